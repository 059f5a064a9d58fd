"""The example analytics consumer (``examples/analytics``) against the real broker and Postgres.

The events are the real ones: bets, wins and rollbacks decided by the real ledger and published
by its relay as CloudEvents. The consumer counts each event once, however often it reads it.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import asyncpg
import pytest

from examples.analytics.ggr_consumer import GgrConsumer, Settings
from shared.contracts.commands import WebhookKind
from shared.contracts.topics import TRANSACTIONS
from tests.integration.ledger.ledger_harness import Ledger, eventually, ledger_harness, webhook

pytestmark = pytest.mark.integration

FAST_GROUP = {"session_timeout_ms": 3000, "heartbeat_interval_ms": 300}


@pytest.fixture(scope="module")
async def ledger(common_env: dict[str, Any], db_pool: asyncpg.Pool) -> AsyncIterator[Ledger]:
    async with ledger_harness(common_env, db_pool) as harness:
        yield harness


def consumer_settings(ledger: Ledger, database_url: str, schema: str) -> Settings:
    """A consumer of this ledger's events in a group of its own (it reads from the start)."""
    return Settings(
        database_url=database_url,
        bootstrap_servers=ledger.settings.kafka_bootstrap_servers,
        topic=ledger.settings.topic(TRANSACTIONS),
        group_id=f"analytics-{uuid.uuid4().hex[:8]}",
        schema=schema,
    )


async def play(ledger: Ledger) -> str:
    """A player who bets 10.00 and wins 25.50, then bets 4.00 that is rolled back."""
    user = await ledger.player("100.00")
    bet, refunded = uuid.uuid4().hex[:16], uuid.uuid4().hex[:16]
    commands = [
        webhook(WebhookKind.BET, user, bet, "10.00"),
        webhook(WebhookKind.WIN, user, uuid.uuid4().hex[:16], "25.50", linked_tx_id=bet),
        webhook(WebhookKind.BET, user, refunded, "4.00", round_id="r2"),
        webhook(
            WebhookKind.ROLLBACK, user, uuid.uuid4().hex[:16], "4.00",
            linked_tx_id=refunded, round_id="r2",
        ),
    ]  # fmt: skip
    for command in commands:
        reply = await ledger.send(command)
        assert reply.status == 200, reply.body
    return user


async def test_keeps_ggr_per_provider_currency_and_hour_counting_each_event_once(
    ledger: Ledger, database_url: str, db_pool: asyncpg.Pool
) -> None:
    user = await play(ledger)

    async def all_published() -> int:
        count: int = await db_pool.fetchval(
            "SELECT count(*) FROM outbox WHERE message_key = $1 AND published_at IS NOT NULL", user
        )
        return count if count == 6 else 0  # account, deposit, bet, win, bet, rollback

    events = await eventually(all_published)
    schema = f"analytics_{uuid.uuid4().hex[:8]}"
    first = GgrConsumer(consumer_settings(ledger, database_url, schema), **FAST_GROUP)
    again = GgrConsumer(consumer_settings(ledger, database_url, schema), **FAST_GROUP)

    async with first:
        await eventually(lambda: read(first, events), attempts=600)
    totals = await db_pool.fetch(totals_of(schema))
    async with again:  # another group reads every event again
        await eventually(lambda: read(again, events), attempts=600)

    assert [tuple(row) for row in totals] == [
        ("hypetech", "USD", Decimal("14.00"), Decimal("25.50"), Decimal("4.00"), Decimal("-15.50"))
    ]
    assert (first.counted, first.duplicates) == (events, 0)
    assert (again.counted, again.duplicates) == (0, events)
    assert (
        await db_pool.fetch(
            f"SELECT provider, currency, stakes, payouts, refunds, ggr FROM {schema}.ggr_hourly"
        )
        == totals
    )
    assert await db_pool.fetchval(f"SELECT count(*) FROM {schema}.applied_events") == events


def totals_of(schema: str) -> str:
    """The totals over every hour (a test that runs across an hour's end has two rows)."""
    return (
        "SELECT provider, currency, sum(stakes), sum(payouts), sum(refunds), sum(ggr)"
        f" FROM {schema}.ggr_hourly GROUP BY provider, currency"
    )


async def read(consumer: GgrConsumer, events: int) -> bool:
    return consumer.counted + consumer.duplicates >= events
