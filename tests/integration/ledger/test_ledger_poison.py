"""One command cannot stop a partition: a credit past the balance bound is refused by the decision,
and a command the database refuses on its own is answered with a stored 500 and dead-lettered while
the other commands of its partition are applied. Only an error the code does not understand stops
a partition, and then the process reports itself neither ready nor alive."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
from aiokafka import TopicPartition
from ledger_harness import (
    Ledger,
    Reply,
    create_ledger_topics,
    eventually,
    ledger_settings,
    operator,
    running_ledger,
    unique,
    webhook,
)

from services.ledger.protection import TOTAL_CEILING
from shared.contracts.commands import OperatorKind, WebhookKind
from shared.contracts.protection import LimitPeriod, period_start
from shared.contracts.topics import COMMANDS, COMMANDS_DLQ, HEADER_DLQ_REASON
from shared.kafka import consumer as kafka_consumer
from shared.kafka_rpc import KafkaRpcClient

BIG = "999999999999.999999"


@contextlib.asynccontextmanager
async def one_partition_ledger(
    common_env: dict[str, Any], pool: asyncpg.Pool
) -> AsyncIterator[Ledger]:
    """A ledger on a one-partition command topic (every player shares the partition), with a
    six-decimal currency."""
    settings = ledger_settings(common_env, extra_currencies={"USDT": 6})
    await create_ledger_topics(settings, partitions=1)
    rpc = KafkaRpcClient(settings, request_topic=COMMANDS, client_id="ledger-poison-test")
    await rpc.start()
    try:
        async with running_ledger(settings, relay=False) as service:
            yield Ledger(settings, rpc, pool, service)
    finally:
        await rpc.stop()


@contextlib.asynccontextmanager
async def refusing_bets(pool: asyncpg.Pool, prefix: str, errcode: str) -> AsyncIterator[None]:
    """A trigger that makes Postgres refuse (with ``errcode``) any bet whose id starts with
    ``prefix``: a command the database refuses on its own, whatever the batch around it."""
    name = f"refuse_{uuid.uuid4().hex[:10]}"
    await pool.execute(
        f"""
        CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.bet_tx_id LIKE '{prefix}%' THEN
                RAISE EXCEPTION 'refused by the test' USING ERRCODE = '{errcode}';
            END IF;
            RETURN NEW;
        END $$;
        CREATE TRIGGER {name} BEFORE INSERT ON bets FOR EACH ROW EXECUTE FUNCTION {name}();
        """
    )
    try:
        yield
    finally:
        await pool.execute(f"DROP TRIGGER {name} ON bets; DROP FUNCTION {name}();")


async def dead_letters(ledger: Ledger, within_s: float = 30.0) -> dict[str, str]:
    """Every record of the dead-letter topic: its key -> its reason header."""
    consumer = kafka_consumer(ledger.settings, group_id=None)
    await consumer.start()
    tp = TopicPartition(ledger.settings.topic(COMMANDS_DLQ), 0)
    consumer.assign([tp])
    await consumer.seek_to_beginning(tp)
    found: dict[str, str] = {}
    try:
        async with asyncio.timeout(within_s):
            while not found:
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    for record in records:
                        headers = dict(record.headers or ())
                        found[(record.key or b"").decode()] = headers[HEADER_DLQ_REASON].decode()
    finally:
        await consumer.stop()
    return found


async def test_refuses_a_deposit_past_the_balance_bound_with_its_own_problem_type(
    common_env: dict[str, Any], db_pool: asyncpg.Pool
) -> None:
    async with one_partition_ledger(common_env, db_pool) as ledger:
        user = await ledger.player(BIG, currency="USDT")

        refused = await ledger.send(
            operator(OperatorKind.DEPOSIT, user, unique("dep"), BIG, currency="USDT")
        )
        after = await ledger.send(webhook(WebhookKind.BET, user, unique("b"), "1", currency="USDT"))

    assert (refused.status, refused.slug) == (403, "balance-limit-exceeded")
    assert after.status == 200, after.body
    assert await ledger.balance(user, "USDT") == 999_999_999_999_999_999 - 1_000_000


async def test_refuses_a_deposit_past_the_ceiling_of_its_period_total_and_applies_the_next(
    common_env: dict[str, Any], db_pool: asyncpg.Pool
) -> None:
    async with one_partition_ledger(common_env, db_pool) as ledger:
        user = await ledger.player("1.00")
        now = datetime.now(UTC)
        month = period_start(now, LimitPeriod.MONTH, ledger.settings.ledger_time_zone)
        await db_pool.execute(  # what a month of deposits and withdrawals could have summed to
            "INSERT INTO limit_totals (user_id, currency, period, period_start, deposits)"
            " VALUES ($1, 'USD', 'month', $2, $3)"
            " ON CONFLICT (user_id, currency, period)"
            " DO UPDATE SET period_start = $2, deposits = $3",
            user,
            month,
            TOTAL_CEILING - 1_00,
        )

        refused = await ledger.send(
            operator(OperatorKind.DEPOSIT, user, unique("dep"), "1.01", requested_at=now)
        )
        after = await ledger.send(webhook(WebhookKind.BET, user, unique("b"), "1.00"))

    assert (refused.status, refused.slug) == (403, "period-total-exceeded")
    assert after.status == 200, after.body
    assert await ledger.balance(user, "USD") == 0


async def test_dead_letters_a_command_the_database_refuses_alone_and_applies_the_others(
    common_env: dict[str, Any], db_pool: asyncpg.Pool
) -> None:
    poison = unique("poison")
    async with (
        refusing_bets(db_pool, "poison-", "23514"),
        one_partition_ledger(common_env, db_pool) as ledger,
    ):
        user, other = await ledger.player("10.00"), await ledger.player("10.00")
        before, after = unique("b"), unique("b")
        commands = [
            webhook(WebhookKind.BET, user, before, "1.00"),
            webhook(WebhookKind.BET, other, unique("b"), "2.00"),
            webhook(WebhookKind.BET, user, poison, "3.00"),
            webhook(WebhookKind.BET, user, after, "4.00"),
        ]
        replies: list[Reply] = await asyncio.gather(*(ledger.send(c) for c in commands))
        again = await ledger.send(commands[2])
        stored = await ledger.decision("bet", poison)
        reasons = await dead_letters(ledger)
        ready = ledger.service.consumer is not None and ledger.service.consumer.ready

    assert [reply.status for reply in replies] == [200, 200, 500, 200]
    assert replies[2].slug == "unprocessable-command"
    assert (again.status, again.body) == (500, replies[2].body)
    assert stored is not None
    assert (stored["status"], stored["outcome"], stored["body"]) == (500, "rejected", again.body)
    assert "CheckViolationError" in reasons[user]
    assert await ledger.balance(user) == 10_00 - 1_00 - 4_00
    assert await ledger.balance(other) == 10_00 - 2_00
    assert await ledger.bet_state(poison) is None
    assert ready


async def test_stops_the_partition_and_fails_liveness_on_an_error_it_does_not_understand(
    common_env: dict[str, Any], db_pool: asyncpg.Pool
) -> None:
    async with (
        refusing_bets(db_pool, "baffling-", "P0001"),
        one_partition_ledger(common_env, db_pool) as ledger,
    ):
        user = await ledger.player("10.00")
        base = f"http://127.0.0.1:{ledger.settings.metrics_port}"
        async with httpx.AsyncClient(base_url=base, timeout=5) as client:
            healthy = (await client.get("/healthz")).status_code
            with contextlib.suppress(Exception):
                await ledger.rpc.request(
                    key=user,
                    value=webhook(WebhookKind.BET, user, unique("baffling"), "1.00")
                    .model_dump_json()
                    .encode(),
                    timeout_s=2,
                )

            async def failing() -> bool:
                return (await client.get("/healthz")).status_code == 503

            await eventually(failing, attempts=300)
            ready = await client.get("/readyz")
            metrics = (await client.get("/metrics")).text

    assert healthy == 200
    assert ready.status_code == 503
    assert 'hypeledger_ledger_partition_errors_total{partition="0"}' in metrics
    assert await ledger.balance(user) == 10_00
