"""Real ``hypeledger ledger`` processes for the crash tests, and a load that can be checked exactly.

The load: per player, create an account, deposit 100.00, then ``bets`` bets of 1.00 with distinct
ids, some of them delivered twice. Whatever the batching and however often the ledger dies, the
end state is known: one decision per key, balance = 100.00 - bets, every bet open.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from services.ledger.app import process_env
from services.ledger.faults import FAULT_ENV
from services.ledger.settings import LedgerSettings
from shared.command_auth import command_headers
from shared.contracts.commands import (
    LEDGER_REPLY,
    Generation,
    LedgerReply,
    OperatorCommand,
    OperatorKind,
    WebhookEnvelope,
    WebhookKind,
)
from shared.contracts.topics import (
    COMMANDS,
    COMMANDS_DLQ,
    HEADER_CORRELATION_ID,
    TRANSACTIONS,
    reply_topic,
)
from shared.infra.processes import free_port, tail
from shared.kafka import consumer as kafka_consumer
from shared.kafka import ensure_topics
from shared.kafka import producer as kafka_producer

PARTITIONS = 4
HYPELEDGER = str(Path(sys.executable).with_name("hypeledger"))


async def until(
    check: Callable[[], Awaitable[bool]],
    within_s: float,
    pause_s: float = 0.05,
    *,
    what: Callable[[], str] = lambda: "the condition",
) -> None:
    """Poll ``check`` until it holds; fail after ``within_s`` of pauses (``what`` says what was
    awaited). The checks' own time is not counted, so a loaded machine gets longer."""
    for _ in range(max(1, int(within_s / pause_s))):
        if await check():
            return
        await asyncio.sleep(pause_s)
    raise AssertionError(f"{what()}: did not hold within {within_s} s")


def env_of(settings: LedgerSettings, **extra: str) -> dict[str, str]:
    """The environment a ledger process reads its settings from (JSON logs to its log file)."""
    env = process_env(settings.model_copy(update={"log_format": "json"}))
    env.update(extra)
    return env


@dataclass
class LedgerProcess:
    process: subprocess.Popen[bytes]
    metrics_port: int
    log: Path

    async def ready(self, within_s: float = 60.0) -> None:
        async with httpx.AsyncClient(timeout=1.0) as client, asyncio.timeout(within_s):
            while True:
                if self.process.poll() is not None:
                    raise AssertionError(
                        f"ledger exited with {self.process.returncode}: {self.log.read_text()[-3000:]}"
                    )
                try:
                    answer = await client.get(f"http://127.0.0.1:{self.metrics_port}/readyz")
                    if answer.status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)

    async def exited(self, within_s: float = 60.0) -> int:
        async def gone() -> bool:
            return self.process.poll() is not None

        await until(gone, within_s)
        return self.process.returncode

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def terminate(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


def start_ledger(
    settings: LedgerSettings, logs: Path, *, fault: str | None = None
) -> LedgerProcess:
    port = free_port()
    extra = {"HYPELEDGER_METRICS_PORT": str(port)}
    if fault:
        extra[FAULT_ENV] = fault
    log = logs / f"ledger-{uuid.uuid4().hex[:6]}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [HYPELEDGER, "ledger"],
            env=env_of(settings, **extra),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return LedgerProcess(process, port, log)


def start_ingress(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """A ``hypeledger ingress`` process with exactly ``env``, its output to ``log``."""
    with log.open("wb") as out:
        return subprocess.Popen([HYPELEDGER, "ingress"], env=env, stdout=out, stderr=out)


async def wait_ready(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    """Until ``url`` (a /readyz) answers 200; fails at once if the process exits."""
    async with httpx.AsyncClient(timeout=1.0) as http, asyncio.timeout(60):
        while True:
            assert process.poll() is None, tail(log, 40)
            try:
                if (await http.get(url)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)


def logged(log: Path, *events: str) -> list[dict[str, Any]]:
    """The JSON lines of a process's ``log`` whose event is one of ``events`` (without level and
    timestamp): what a failed timing assertion shows of where the time went."""
    lines = (json.loads(line) for line in log.read_text().splitlines() if line.startswith("{"))
    return [
        {k: v for k, v in line.items() if k not in ("level", "timestamp")}
        for line in lines
        if line.get("event") in events
    ]


def chaos_settings(common_env: dict[str, Any], *, max_batch: int = 20) -> LedgerSettings:
    prefix = f"c{uuid.uuid4().hex[:8]}."
    return LedgerSettings(
        **common_env,
        topic_prefix=prefix,
        consumer_group=f"{prefix}ledger",
        max_batch=max_batch,
        session_check=False,  # the load has no sessions; the session rows are tested elsewhere
    )


async def create_topics(settings: LedgerSettings) -> None:
    await ensure_topics(
        settings,
        {COMMANDS: PARTITIONS, COMMANDS_DLQ: 1, TRANSACTIONS: PARTITIONS, reply_topic("chaos"): 1},
    )


@dataclass
class Load:
    """The commands of the run, in publishing order, and what the end state must be."""

    players: list[str]
    bets: int
    commands: list[WebhookEnvelope | OperatorCommand] = field(default_factory=list)

    @property
    def unique_keys(self) -> int:
        return len(
            {
                (
                    type(c).__name__,
                    c.kind,
                    getattr(c, "provider_tx_id", None) or getattr(c, "idempotency_key", None),
                )
                for c in self.commands
            }
        )

    def expected_balance(self) -> int:
        return 100_00 - self.bets * 1_00


def build_load(players: int, bets: int, *, duplicate_every: int = 3) -> Load:
    now = datetime.now(UTC)
    names = [f"cp-{uuid.uuid4().hex[:10]}" for _ in range(players)]
    load = Load(names, bets)
    for user in names:
        for kind, amount in (
            (OperatorKind.CREATE_ACCOUNT, None),
            (OperatorKind.DEPOSIT, Decimal("100.00")),
        ):
            load.commands.append(
                OperatorCommand(
                    kind=kind,
                    idempotency_key=f"{user}-{kind.value}",
                    user_id=user,
                    currency="USD",
                    amount=amount,
                    requested_at=now,
                )
            )
    for index in range(bets):
        for user in names:
            bet = WebhookEnvelope(
                kind=WebhookKind.BET,
                generation=Generation.V4,
                provider="hypetech",
                provider_tx_id=f"{user}-b{index}",
                user_id=user,
                currency="USD",
                amount=Decimal("1.00"),
                round_id=f"{user}-r{index}",
                received_at=now,
            )
            load.commands.append(bet)
            if index % duplicate_every == 0:
                load.commands.append(bet)
    return load


class Replies:
    """Publishes commands with ``reply_to`` and collects every reply by correlation id."""

    def __init__(self, settings: LedgerSettings) -> None:
        self._settings = settings
        self._signer = settings.command_signer()  # signs as the ingress and operator API do
        self.topic = settings.topic(reply_topic("chaos"))
        self.sent: dict[str, WebhookEnvelope | OperatorCommand] = {}
        self.received: dict[str, list[LedgerReply]] = {}
        self._producer: AIOKafkaProducer | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Replies:
        self._producer = kafka_producer(self._settings)
        await self._producer.start()
        self._consumer = kafka_consumer(self._settings, group_id=None)
        await self._consumer.start()
        self._consumer.assign([TopicPartition(self.topic, 0)])
        await self._consumer.seek_to_beginning(TopicPartition(self.topic, 0))
        self._task = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._consumer is not None:
            await self._consumer.stop()
        if self._producer is not None:
            await self._producer.stop()

    async def _read(self) -> None:
        assert self._consumer is not None
        while True:
            batches = await self._consumer.getmany(timeout_ms=200)
            for records in batches.values():
                for record in records:
                    cid = dict(record.headers or ()).get(HEADER_CORRELATION_ID, b"").decode()
                    self.received.setdefault(cid, []).append(
                        LEDGER_REPLY.validate_json(record.value or b"")
                    )

    async def publish(self, commands: Sequence[WebhookEnvelope | OperatorCommand]) -> list[str]:
        assert self._producer is not None
        futures = []
        ids = []
        for command in commands:
            cid = uuid.uuid4().hex
            self.sent[cid] = command
            ids.append(cid)
            value, key = command.model_dump_json().encode(), command.user_id.encode()
            futures.append(
                await self._producer.send(
                    self._settings.topic(COMMANDS),
                    value,
                    key=key,
                    headers=command_headers(
                        self._signer,
                        key=key,
                        correlation_id=cid.encode(),
                        reply_to=self.topic.encode(),
                        value=value,
                    ),
                )
            )
        await asyncio.gather(*futures)
        return ids

    async def wait_for(self, ids: Sequence[str], within_s: float = 60.0) -> None:
        async def answered() -> bool:
            return all(cid in self.received for cid in ids)

        await until(answered, within_s)


async def applied_offsets(pool: asyncpg.Pool, settings: LedgerSettings) -> int:
    total: int | None = await pool.fetchval(
        "SELECT sum(next_offset) FROM consumed_offsets WHERE group_id = $1 AND topic = $2",
        settings.consumer_group,
        settings.topic(COMMANDS),
    )
    return int(total or 0)


async def wait_all_applied(
    pool: asyncpg.Pool, settings: LedgerSettings, published: int, within_s: float = 120.0
) -> None:
    async def applied() -> bool:
        return await applied_offsets(pool, settings) >= published

    await until(applied, within_s)


async def check_end_state(pool: asyncpg.Pool, load: Load) -> None:
    """Exactly once: one decision per key, each player's balance and bets as the load says."""
    players = load.players
    decisions = await pool.fetchval(
        "SELECT count(*) FROM decisions WHERE user_id = ANY($1::text[])", players
    )
    assert decisions == load.unique_keys
    balances = await pool.fetch(
        "SELECT user_id, balance FROM accounts WHERE user_id = ANY($1::text[])", players
    )
    statuses = await pool.fetch(
        "SELECT kind, status, count(*) FROM decisions WHERE user_id = ANY($1::text[]) GROUP BY 1, 2",
        players,
    )
    assert {row["user_id"]: row["balance"] for row in balances} == dict.fromkeys(
        players, load.expected_balance()
    ), [tuple(row) for row in statuses]
    open_bets = await pool.fetchval(
        "SELECT count(*) FROM bets WHERE user_id = ANY($1::text[]) AND state = 'open'", players
    )
    assert open_bets == len(players) * load.bets
    debits = await pool.fetchval(
        "SELECT count(*) FROM postings WHERE account_ref = ANY($1::text[]) AND account_type = 'player' AND amount < 0",
        players,
    )
    assert debits == len(players) * load.bets
