"""The whole money path for the reconciler's tests, in this process, over real HTTP and a real
broker and Postgres: the Hypetech simulator sends signed webhooks to the ingress, the ingress
publishes them to the ledger, the ledger decides and answers. Each stack gets its own database and
topics, so a reconciliation run sees only its own test's sessions.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import uvicorn

from services.ingress.app import create_app as create_ingress
from services.ingress.settings import IngressSettings
from services.ledger.app import LedgerService
from services.ledger.settings import LedgerSettings
from services.reconciler.settings import ReconcilerSettings
from services.simulator.app import create_app as create_simulator
from services.simulator.settings import SimulatorSettings
from shared.contracts.commands import (
    LEDGER_REPLY,
    LedgerReply,
    OperatorCommand,
    OperatorKind,
    WebhookEnvelope,
)
from shared.contracts.topics import COMMANDS, COMMANDS_DLQ, RECONCILIATION, TRANSACTIONS
from shared.db.databases import migrated_database
from shared.db.pool import create_pool
from shared.infra.processes import free_port
from shared.kafka import consumer, ensure_topics, stop_client
from shared.kafka_rpc import KafkaRpcClient

API_KEY = "k-reconciler-integration-0123456789"
SIM_TOKEN = "simulator-token-reconciler"
STARTS_WITHIN_S = 30.0
DEPOSIT = Decimal("500.00")


@dataclass
class Stack:
    prefix: str
    database_url: str
    pool: asyncpg.Pool
    common: dict[str, Any]
    simulator_url: str
    sim: httpx.AsyncClient
    rpc: KafkaRpcClient
    sessions: list[str] = field(default_factory=list)

    def reconciler_settings(self, **overrides: Any) -> ReconcilerSettings:
        values: dict[str, Any] = {
            **self.common,
            "topic_prefix": self.prefix,
            "hypetech_base_url": self.simulator_url,
            "hypetech_api_token": SIM_TOKEN,
            "grace_period_s": 0,
            "requests_per_second": 2000,
            "concurrency": 8,
            "chunk_size": 16,
            "metrics_port": free_port(),
            "instance_id": f"rec-{uuid.uuid4().hex[:6]}",
        }
        values.update(overrides)
        return ReconcilerSettings(**values)

    def env(self, settings: ReconcilerSettings) -> dict[str, str]:
        """The same settings as ``HYPELEDGER_*`` variables, for a reconciler in its own process."""
        names = (
            "environment", "database_url", "kafka_bootstrap_servers", "kafka_flavour",
            "kafka_fetch_max_wait_ms", "kafka_session_timeout_ms", "kafka_heartbeat_interval_ms",
            "topic_prefix", "hypetech_base_url", "grace_period_s", "requests_per_second",
            "concurrency", "chunk_size", "metrics_port", "instance_id", "page_size",
        )  # fmt: skip
        values = {name: getattr(settings, name) for name in names}
        env = {f"HYPELEDGER_{n.upper()}": str(v) for n, v in values.items() if v is not None}
        env["HYPELEDGER_HYPETECH_API_TOKEN"] = SIM_TOKEN
        env["HYPELEDGER_LOG_FORMAT"] = "json"
        return env

    async def send(self, command: WebhookEnvelope | OperatorCommand) -> LedgerReply:
        answer = await self.rpc.request(
            key=command.user_id, value=command.model_dump_json().encode(), timeout_s=15.0
        )
        return LEDGER_REPLY.validate_json(answer.value)

    async def player(self, user: str) -> str:
        """An account with a deposit, a Hypetech session for it, stored as the operator API would."""
        now = datetime.now(UTC)
        for kind, amount in ((OperatorKind.CREATE_ACCOUNT, None), (OperatorKind.DEPOSIT, DEPOSIT)):
            reply = await self.send(
                OperatorCommand(
                    kind=kind,
                    idempotency_key=f"{kind.value}-{user}",
                    user_id=user,
                    currency="USD",
                    amount=amount,
                    requested_at=now,
                )
            )
            assert reply.status == 200, reply.body
        launched = await self.sim.post(
            "/games/request-access",
            json={"game": "aviador", "user_id": user, "username": user, "currency": "USD",
                  "balance": str(DEPOSIT)},
        )  # fmt: skip
        launched.raise_for_status()
        token: str = launched.json()["session_id"]
        await self.pool.execute(
            "INSERT INTO sessions (token, user_id, currency, game, expires_at)"
            " VALUES ($1, $2, 'USD', 'aviador', $3)",
            token,
            user,
            now + timedelta(hours=1),
        )
        self.sessions.append(token)
        return token

    async def play(self, rounds: int) -> None:
        response = await self.sim.post("/_sim/play", json={"rounds": rounds}, timeout=300.0)
        response.raise_for_status()

    async def truth(self) -> dict[str, Any]:
        response = await self.sim.get("/_sim/truth", timeout=60.0)
        response.raise_for_status()
        truth: dict[str, Any] = response.json()
        return truth


@contextlib.asynccontextmanager
async def serving(app: Any, port: int) -> AsyncIterator[None]:
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(STARTS_WITHIN_S):
            while not server.started:
                if task.done():
                    task.result()
                await asyncio.sleep(0.02)
        yield
    finally:
        server.should_exit = True
        await task


@contextlib.asynccontextmanager
async def fresh_database(admin_url: str) -> AsyncIterator[str]:
    async with migrated_database(admin_url, f"hypeledger_rec_{uuid.uuid4().hex[:10]}") as dsn:
        yield dsn


@contextlib.asynccontextmanager
async def money_path(
    infra: Any, common_env: dict[str, Any], **simulator: Any
) -> AsyncIterator[Stack]:
    """Simulator -> ingress -> ledger on a fresh database; ``simulator`` overrides its settings."""
    prefix = f"r{uuid.uuid4().hex[:8]}."
    async with fresh_database(infra.database_admin_url) as dsn:
        common = {**common_env, "database_url": dsn}
        ledger = LedgerSettings(
            **common,
            topic_prefix=prefix,
            consumer_group=f"{prefix}ledger",
            metrics_port=free_port(),
            relay_metrics_port=free_port(),
        )
        await ensure_topics(
            ledger, {COMMANDS: 4, COMMANDS_DLQ: 1, TRANSACTIONS: 4, RECONCILIATION: 2}
        )
        ingress_port, sim_port = free_port(), free_port()
        ingress_url = f"http://127.0.0.1:{ingress_port}"
        ingress = IngressSettings(
            **common,
            topic_prefix=prefix,
            port=ingress_port,
            public_base_url=ingress_url,
            hypetech_api_keys=[API_KEY],
            instance_id=f"ing-{uuid.uuid4().hex[:6]}",
        )
        # A seeded run fixes the crash points too (the seed chain's secret), so a test's faults
        # land in the same places every time.
        seed = simulator.get("seed")
        if seed is not None:
            simulator = {"server_secret": f"reconciler-test-{seed}", **simulator}
        sim_settings = SimulatorSettings(
            port=sim_port,
            webhook_base_url=ingress_url,
            webhook_api_key=API_KEY,
            api_token=SIM_TOKEN,
            betting_window_s=0,
            webhook_timeout_s=10,
            **simulator,
        )
        service = LedgerService(ledger, run_relay=False)
        ledger_task = asyncio.create_task(service.run(), name="ledger")
        pool = await create_pool(dsn, max_size=4)
        rpc = KafkaRpcClient(ledger, request_topic=COMMANDS, client_id="reconciler-test")
        try:
            async with asyncio.timeout(STARTS_WITHIN_S):
                while not (service.consumer is not None and service.consumer.ready):
                    if ledger_task.done():
                        ledger_task.result()
                    await asyncio.sleep(0.05)
            await rpc.start()
            async with (
                serving(create_ingress(ingress), ingress_port),
                serving(create_simulator(sim_settings), sim_port),
                httpx.AsyncClient(
                    base_url=f"http://127.0.0.1:{sim_port}",
                    headers={"Authorization": f"Bearer {SIM_TOKEN}"},
                ) as sim,
            ):
                yield Stack(prefix, dsn, pool, common, f"http://127.0.0.1:{sim_port}", sim, rpc)
        finally:
            await rpc.stop()
            await pool.close()
            service.stop_event.set()
            await ledger_task


PLAYERS = 6
ROUNDS = 25


def expected_findings(truth: dict[str, Any]) -> set[tuple[str, str, str]]:
    """What each injected fault must be found as (the others leave both sides agreeing)."""
    expected = set()
    for fault in truth["faults"]["records"]:
        if fault["kind"] == "drift":
            expected.add(("missing_in_ledger", "win", fault["transactionId"]))
        elif fault["kind"] == "wrong_rollback_amount":
            expected.add(("amount_mismatch", "rollback", fault["transactionId"]))
    return expected


async def found(stack: Stack, status: str | None = None) -> list[tuple[str, str, str]]:
    rows = await stack.pool.fetch(
        "SELECT finding_class, kind, provider_tx_id FROM reconciliation_findings"
        " WHERE $1::text IS NULL OR status = $1 ORDER BY finding_id",
        status,
    )
    return [(r[0], r[1], r[2]) for r in rows]


async def play(stack: Stack, players: int = PLAYERS, rounds: int = ROUNDS) -> None:
    for i in range(players):
        await stack.player(f"{stack.prefix}p{i}")
    await stack.play(rounds)


def faults(rate: str, kinds: Iterable[str]) -> dict[str, Decimal]:
    return {f"fault_{kind}": Decimal(rate) for kind in kinds}


ALL_FAULTS = ("duplicate", "rollback_before_bet", "lost_reply", "drift", "wrong_rollback_amount")


async def read_to_end(settings: Any, topic: str) -> list[Any]:
    """Every record of ``topic`` (no group) up to its end as it is when read. Whatever wrote there
    above awaited its acknowledgements, so nothing of it can arrive later: reading to the end sees
    each record and any duplicate without waiting for the topic to fall quiet."""
    reader = consumer(settings, settings.topic(topic), group_id=None)
    await reader.start()
    records: list[Any] = []
    ends: dict[Any, int] = {}
    try:
        async with asyncio.timeout(20):
            while True:
                batches = await reader.getmany(timeout_ms=100)
                records += [record for batch in batches.values() for record in batch]
                if not ends and reader.assignment():
                    ends = await reader.end_offsets(list(reader.assignment()))
                if ends and all([await reader.position(tp) >= end for tp, end in ends.items()]):
                    return records
    finally:
        await stop_client(reader)
