"""A real ledger (consumer and relay, in-process) on real topics, driven through the broker.

Commands are published to the command topic exactly as the ingress and the operator API do
(``KafkaRpcClient``: keyed by user, with ``reply_to`` and ``correlation_id`` headers); replies come
back from the ledger after its commit. Stored state is read straight from Postgres.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg

from services.ledger.app import LedgerService
from services.ledger.settings import LedgerSettings
from shared.contracts.commands import (
    LEDGER_REPLY,
    Generation,
    LedgerReply,
    Mode,
    OperatorCommand,
    OperatorKind,
    WebhookEnvelope,
    WebhookKind,
)
from shared.contracts.topics import COMMANDS, COMMANDS_DLQ, TRANSACTIONS
from shared.infra.processes import free_port
from shared.jsonwire import loads_exact
from shared.kafka import ensure_topics
from shared.kafka_rpc import KafkaRpcClient

PARTITIONS = 4
ASSIGNED_WITHIN_S = 30.0
REPLY_WITHIN_S = 15.0


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def ledger_settings(common_env: dict[str, Any], **overrides: Any) -> LedgerSettings:
    prefix = f"l{uuid.uuid4().hex[:8]}."
    values: dict[str, Any] = {
        **common_env,
        "topic_prefix": prefix,
        "consumer_group": f"{prefix}ledger",
        "metrics_port": free_port(),
        "relay_metrics_port": free_port(),
        "relay_interval_ms": 20,
    }
    values.update(overrides)
    return LedgerSettings(**values)


async def create_ledger_topics(settings: LedgerSettings, partitions: int = PARTITIONS) -> None:
    await ensure_topics(settings, {COMMANDS: partitions, COMMANDS_DLQ: 1, TRANSACTIONS: partitions})


@contextlib.asynccontextmanager
async def running_ledger(
    settings: LedgerSettings, *, relay: bool = True
) -> AsyncIterator[LedgerService]:
    service = LedgerService(settings, run_relay=relay)
    task = asyncio.create_task(service.run(), name="ledger-under-test")
    try:
        async with asyncio.timeout(ASSIGNED_WITHIN_S):
            while not (service.consumer is not None and service.consumer.ready):
                if task.done():
                    task.result()
                    raise RuntimeError("the ledger stopped before it was assigned")
                await asyncio.sleep(0.05)
        yield service
    finally:
        service.stop_event.set()
        await task


@dataclass
class Reply:
    status: int
    body: str
    raw: LedgerReply

    @property
    def json(self) -> dict[str, Any]:
        parsed: dict[str, Any] = loads_exact(self.body)
        return parsed

    @property
    def slug(self) -> str:
        return str(self.json.get("type", "")).rsplit("/", 1)[-1]


@dataclass
class Ledger:
    """The harness: send commands, read state."""

    settings: LedgerSettings
    rpc: KafkaRpcClient
    pool: asyncpg.Pool
    service: LedgerService

    async def send(self, command: WebhookEnvelope | OperatorCommand) -> Reply:
        answer = await self.rpc.request(
            key=command.user_id, value=command.model_dump_json().encode(), timeout_s=REPLY_WITHIN_S
        )
        reply = LEDGER_REPLY.validate_json(answer.value)
        return Reply(reply.status, reply.body, reply)

    async def send_raw(self, key: str, value: bytes) -> Reply:
        answer = await self.rpc.request(key=key, value=value, timeout_s=REPLY_WITHIN_S)
        reply = LEDGER_REPLY.validate_json(answer.value)
        return Reply(reply.status, reply.body, reply)

    async def player(self, balance: str | None = "100.00", currency: str = "USD") -> str:
        """A new player with an account (and a deposit) and a live session ``tok-<user>``."""
        user = unique("p")
        created = await self.send(
            operator(OperatorKind.CREATE_ACCOUNT, user, unique("create"), currency=currency)
        )
        assert created.status == 200, created.body
        if balance is not None:
            funded = await self.send(
                operator(OperatorKind.DEPOSIT, user, unique("dep"), balance, currency=currency)
            )
            assert funded.status == 200, funded.body
        await self.pool.execute(
            "INSERT INTO sessions (token, user_id, currency, game, expires_at)"
            " VALUES ($1, $2, $3, 'aviador', $4)",
            f"tok-{user}",
            user,
            currency,
            datetime.now(UTC) + timedelta(hours=1),
        )
        return user

    async def balance(self, user: str, currency: str = "USD") -> int | None:
        value: int | None = await self.pool.fetchval(
            "SELECT balance FROM accounts WHERE user_id = $1 AND currency = $2", user, currency
        )
        return value

    async def bet_state(self, bet_tx_id: str, provider: str = "hypetech") -> str | None:
        value: str | None = await self.pool.fetchval(
            "SELECT state FROM bets WHERE provider = $1 AND bet_tx_id = $2", provider, bet_tx_id
        )
        return value

    async def decision(
        self, kind: str, tx: str, provider: str = "hypetech"
    ) -> asyncpg.Record | None:
        row: asyncpg.Record | None = await self.pool.fetchrow(
            "SELECT * FROM decisions WHERE provider = $1 AND kind = $2 AND provider_tx_id = $3",
            provider,
            kind,
            tx,
        )
        return row

    async def backdate_decision(self, tx: str, when: datetime) -> None:
        """Fabricate history: move the decisions of ``tx`` (and their keys) to ``when``, into
        the monthly partition of decisions for it (created if missing, as the ledger would)."""
        async with self.pool.acquire() as conn:
            await conn.execute("SELECT decisions_add_months($1, $1)", when)
            async with conn.transaction():
                for table in ("decisions", "idempotency_keys"):
                    await conn.execute(
                        f"UPDATE {table} SET decided_at = $2 WHERE provider_tx_id = $1", tx, when
                    )

    async def count(self, sql: str, *args: Any) -> int:
        value: int = await self.pool.fetchval(sql, *args)
        return value


@contextlib.asynccontextmanager
async def ledger_harness(
    common_env: dict[str, Any], pool: asyncpg.Pool, **overrides: Any
) -> AsyncIterator[Ledger]:
    settings = ledger_settings(common_env, **overrides)
    await create_ledger_topics(settings)
    rpc = KafkaRpcClient(settings, request_topic=COMMANDS, client_id="ledger-test")
    await rpc.start()
    try:
        async with running_ledger(settings) as service:
            yield Ledger(settings, rpc, pool, service)
    finally:
        await rpc.stop()


def webhook(
    kind: WebhookKind, user: str, tx: str | None, amount: str | None = "10.00", **fields: Any
) -> WebhookEnvelope:
    values: dict[str, Any] = {
        "kind": kind,
        "generation": Generation.V4,
        "provider": "hypetech",
        "provider_tx_id": tx,
        "user_id": user,
        "currency": "USD",
        "amount": None if amount is None else Decimal(amount),
        "round_id": "r1",
        "session_token": f"tok-{user}",
        "mode": Mode.DEFAULT,
        "received_at": datetime.now(UTC),
    }
    values.update(fields)
    return WebhookEnvelope(**values)


def operator(
    kind: OperatorKind, user: str, key: str, amount: str | None = None, **fields: Any
) -> OperatorCommand:
    values: dict[str, Any] = {
        "kind": kind,
        "idempotency_key": key,
        "user_id": user,
        "currency": "USD",
        "amount": None if amount is None else Decimal(amount),
        "requested_at": datetime.now(UTC),
    }
    values.update(fields)
    return OperatorCommand(**values)


async def eventually(check: Any, *, attempts: int = 200, pause_s: float = 0.05) -> Any:
    """Poll ``check()`` until it returns something truthy (bounded); return that."""
    for _ in range(attempts):
        result = await check()
        if result:
            return result
        await asyncio.sleep(pause_s)
    raise AssertionError("the condition did not hold in time")
