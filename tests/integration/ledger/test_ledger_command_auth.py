"""Only signed commands move money: forged, unsigned and retired-key records are dead-lettered.

The real ledger with per-producer keys; commands published straight to the command topic (as
anyone with write access to it could) and through ``KafkaRpcClient`` (what the ingress, the
operator API and the reconciler's corrections publish with), across a key rotation.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from aiokafka import TopicPartition

from services.ledger.settings import LedgerSettings
from shared import kafka
from shared.command_auth import Signer, command_headers
from shared.contracts.commands import LEDGER_REPLY, OperatorCommand, OperatorKind
from shared.contracts.topics import COMMANDS, COMMANDS_DLQ, HEADER_DLQ_REASON
from shared.kafka_rpc import KafkaRpcClient, RpcTimeout
from tests.integration.ledger.ledger_harness import (
    create_ledger_topics,
    eventually,
    ledger_settings,
    operator,
    running_ledger,
    unique,
)

pytestmark = pytest.mark.integration

OLD = ("ingress-2026-01", "o" * 32)
NEW = ("ingress-2026-02", "n" * 32)
OPERATOR_API = ("operator-api-1", "p" * 32)
RECONCILER = ("reconciler-1", "r" * 32)
LEDGER = ("ledger-1", "l" * 32)


def keyed(settings: LedgerSettings, own: tuple[str, str], *accepted: tuple[str, str]) -> Any:
    """``settings`` signing with ``own`` and accepting ``accepted``."""
    return LedgerSettings(
        **{
            **settings.model_dump(),
            "command_key_id": own[0],
            "command_key": own[1],
            "command_verify_keys": dict(accepted),
        }
    )


@contextlib.asynccontextmanager
async def producer(settings: LedgerSettings, key: tuple[str, str]) -> AsyncIterator[KafkaRpcClient]:
    """A producer as the services run one: its own key, the ledger's to verify replies."""
    client = KafkaRpcClient(keyed(settings, key, LEDGER), request_topic=COMMANDS, client_id=key[0])
    await client.start()
    try:
        yield client
    finally:
        await client.stop()


async def ask(client: KafkaRpcClient, command: OperatorCommand) -> int:
    answer = await client.request(
        key=command.user_id, value=command.model_dump_json().encode(), timeout_s=15
    )
    return LEDGER_REPLY.validate_json(answer.value).status


async def unanswered(client: KafkaRpcClient, command: OperatorCommand) -> None:
    """``command`` gets no reply (the ledger dead-lettered it, or the client refused the reply)."""
    with pytest.raises(RpcTimeout):
        await client.request(
            key=command.user_id, value=command.model_dump_json().encode(), timeout_s=3
        )


async def publish_raw(
    settings: LedgerSettings, command: OperatorCommand, headers: list[tuple[str, bytes]]
) -> None:
    """Straight to the command topic, as anyone with write access could."""
    client = kafka.producer(settings)
    await client.start()
    try:
        await client.send_and_wait(
            settings.topic(COMMANDS),
            command.model_dump_json().encode(),
            key=command.user_id.encode(),
            headers=headers,
        )
    finally:
        await client.stop()


async def dead_letters(settings: LedgerSettings) -> list[str]:
    """The ``dlq_reason`` of every record on the dead-letter topic."""
    consumer = kafka.consumer(settings, group_id=None)
    await consumer.start()
    try:
        partition = TopicPartition(settings.topic(COMMANDS_DLQ), 0)
        consumer.assign([partition])
        await consumer.seek_to_beginning(partition)
        end = (await consumer.end_offsets([partition]))[partition]
        reasons: list[str] = []
        while await consumer.position(partition) < end:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                reasons += [dict(r.headers)[HEADER_DLQ_REASON].decode() for r in records]
        return reasons
    finally:
        await consumer.stop()


def refused(service: Any) -> dict[str, float]:
    return {
        sample.labels["reason"]: sample.value
        for family in service.metrics.registry.collect()
        if family.name == "hypeledger_ledger_commands_unauthenticated"
        for sample in family.samples
        if sample.name.endswith("_total")
    }


async def balance(pool: asyncpg.Pool, user: str) -> int | None:
    value: int | None = await pool.fetchval(
        "SELECT balance FROM accounts WHERE user_id = $1 AND currency = 'USD'", user
    )
    return value


async def test_forged_commands_are_dead_lettered_and_signed_ones_survive_a_key_rotation(
    common_env: dict[str, Any], db_pool: asyncpg.Pool
) -> None:
    base = ledger_settings(common_env)
    await create_ledger_topics(base)
    user = unique("p")
    million = operator(OperatorKind.DEPOSIT, user, unique("mint"), "1000000.00")
    forged = Signer(NEW[0], b"not-the-key-" + b"x" * 20)
    reply_to = base.topic(f"wallet.replies.v1.attacker-{uuid.uuid4().hex[:6]}").encode()

    # Rotation under way: the ledger accepts the old and the new ingress key.
    rotating = keyed(base, LEDGER, OLD, NEW, OPERATOR_API, RECONCILER)
    async with running_ledger(rotating) as ledger:
        async with producer(base, OPERATOR_API) as operator_api:
            created = await ask(
                operator_api, operator(OperatorKind.CREATE_ACCOUNT, user, unique("c"))
            )
        async with producer(base, OLD) as old, producer(base, NEW) as new:
            through_old = await ask(old, operator(OperatorKind.DEPOSIT, user, unique("d"), "1.00"))
            through_new = await ask(new, operator(OperatorKind.DEPOSIT, user, unique("d"), "2.00"))
        async with producer(base, RECONCILER) as reconciler:
            through_reconciler = await ask(
                reconciler, operator(OperatorKind.DEPOSIT, user, unique("d"), "4.00")
            )
        await publish_raw(base, million, [("correlation_id", b"c"), ("reply_to", reply_to)])
        await publish_raw(
            base,
            million,
            command_headers(
                forged,
                key=user.encode(),
                correlation_id=b"c",
                reply_to=reply_to,
                value=million.model_dump_json().encode(),
            ),
        )
        await eventually(lambda: _at_least(refused(ledger), {"unsigned": 1, "bad signature": 1}))
        during = dict(refused(ledger))

    # Rotation done: the old key is retired.
    retired = keyed(base, LEDGER, NEW, OPERATOR_API, RECONCILER)
    async with running_ledger(retired) as ledger:
        async with producer(base, OLD) as old:
            await unanswered(old, operator(OperatorKind.DEPOSIT, user, unique("d"), "8.00"))
        async with producer(base, NEW) as new:
            after = await ask(new, operator(OperatorKind.DEPOSIT, user, unique("d"), "16.00"))
        await eventually(lambda: _at_least(refused(ledger), {"unknown key id": 1}))

    assert (created, through_old, through_new, through_reconciler, after) == (200,) * 5
    assert during == {"unsigned": 1.0, "bad signature": 1.0}
    assert await balance(db_pool, user) == 2300  # 1 + 2 + 4 + 16: no million, no 8
    reasons = await dead_letters(base)
    assert sorted(reasons) == [
        "unauthenticated: bad signature",
        "unauthenticated: unknown key id",
        "unauthenticated: unsigned",
    ]


async def _at_least(counts: dict[str, float], wanted: dict[str, int]) -> bool:
    await asyncio.sleep(0)
    return all(counts.get(reason, 0) >= n for reason, n in wanted.items())


async def test_a_reply_not_signed_by_the_ledger_is_refused_by_the_waiting_client(
    common_env: dict[str, Any],
) -> None:
    base = ledger_settings(common_env)
    await create_ledger_topics(base)
    impostor = keyed(base, ("ledger-impostor", "i" * 32), OLD, NEW)

    async with running_ledger(impostor), producer(base, OLD) as client:
        await unanswered(client, operator(OperatorKind.CREATE_ACCOUNT, unique("p"), unique("c")))

    assert client.stats.forged_replies == 1


async def test_a_key_signing_outside_its_scope_moves_no_money(
    common_env: dict[str, Any], db_pool: asyncpg.Pool
) -> None:
    base = ledger_settings(common_env)
    await create_ledger_topics(base)
    user = unique("p")
    scoped = LedgerSettings(
        **{
            **keyed(base, LEDGER, OPERATOR_API, RECONCILER).model_dump(),
            "command_key_scopes": {
                OPERATOR_API[0]: ["operator"],
                RECONCILER[0]: ["operator:settle_lost"],
            },
        }
    )

    async with running_ledger(scoped) as ledger:
        async with producer(base, OPERATOR_API) as operator_api:
            created = await ask(
                operator_api, operator(OperatorKind.CREATE_ACCOUNT, user, unique("c"))
            )
            deposited = await ask(
                operator_api, operator(OperatorKind.DEPOSIT, user, unique("d"), "1.00")
            )
        async with producer(base, RECONCILER) as reconciler:
            await unanswered(
                reconciler, operator(OperatorKind.DEPOSIT, user, unique("d"), "500.00")
            )
        await eventually(lambda: _at_least(refused(ledger), {"out of scope": 1}))

    assert (created, deposited) == (200, 200)
    assert await balance(db_pool, user) == 100
    assert await dead_letters(base) == [
        f"unauthenticated: key {RECONCILER[0]} may not sign operator:deposit"
    ]
