"""Newly assigned partitions are held, and the consumer is not ready, until each has been compared
with its log: the comparison happens in the fetch loop, after the assignment, and nothing of a
partition may be applied (nor readiness reported) before it."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import asyncpg
from ledger_harness import create_ledger_topics, ledger_settings

from services.ledger.app import policy_of
from services.ledger.consumer import LedgerConsumer
from services.ledger.faults import Faults
from services.ledger.metrics import LedgerMetrics


async def test_the_consumer_is_never_ready_while_its_partitions_are_being_assigned(
    common_env: dict[str, Any], db_pool: asyncpg.Pool
) -> None:
    settings = ledger_settings(common_env)
    await create_ledger_topics(settings, partitions=4)
    ledger = LedgerConsumer(
        settings,
        db_pool,
        cast(Any, None),  # sends nothing: no fetch round runs, so nothing is applied or answered
        metrics=LedgerMetrics(),
        policy=policy_of(settings),
        faults=Faults(),
    )
    readiness: list[bool] = []

    async def watch() -> None:
        # Every turn of the event loop: the assignment's awaits (the stored offsets, a seek to
        # the beginning per partition without one) are where a wrong readiness would show.
        while not ledger.assigned_once.is_set():
            readiness.append(ledger.ready)
            await asyncio.sleep(0)

    watcher = asyncio.create_task(watch())
    try:
        await ledger.start()
        async with asyncio.timeout(60):
            await watcher
        assigned_and_ready = ledger.ready
    finally:
        watcher.cancel()
        await ledger.stop()

    # Not one partition was compared with its log (the fetch loop never ran): never ready.
    assert readiness
    assert not any(readiness)
    assert not assigned_and_ready
