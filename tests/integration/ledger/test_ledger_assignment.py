"""Newly assigned partitions are held, and the consumer is not ready, until each has been compared
with its log: the comparison happens in the fetch loop, after the assignment, and nothing of a
partition may be applied (nor readiness reported) before it. The comparison comes at once, also
for an assignment that completes while a comparison is under way."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any, cast

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from ledger_harness import create_ledger_topics, ledger_settings

from services.ledger.app import policy_of
from services.ledger.consumer import LOG_CHECK_INTERVAL_S, LedgerConsumer
from services.ledger.faults import Faults
from services.ledger.metrics import LedgerMetrics
from services.ledger.settings import LedgerSettings


def consumer_of(settings: LedgerSettings, pool: asyncpg.Pool, kind: type[LedgerConsumer]) -> Any:
    return kind(
        settings,
        pool,
        cast(Any, None),  # sends nothing: no record is published, so nothing is answered
        metrics=LedgerMetrics(),
        policy=policy_of(settings),
        faults=Faults(),
    )


async def test_the_consumer_is_never_ready_while_its_partitions_are_being_assigned(
    common_env: dict[str, Any], db_pool: asyncpg.Pool
) -> None:
    settings = ledger_settings(common_env)
    await create_ledger_topics(settings, partitions=4)
    ledger = consumer_of(settings, db_pool, LedgerConsumer)  # no fetch round runs
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


class AssignedDuringACheck(LedgerConsumer):
    """Once armed, its next comparison with the log sees one partition fewer than it owns, and
    that partition's assignment completes before the comparison ends: what a rebalance does when
    its callback (which does not wait for the comparison's lock) lands in the middle of one."""

    armed = False
    late_assigned_at = 0.0
    late_assigned = asyncio.Event()

    async def _check_log(self, consumer: AIOKafkaConsumer, tps: Sequence[TopicPartition]) -> bool:
        if not self.armed or not tps:
            return await super()._check_log(consumer, tps)
        self.armed = False
        *seen, late = sorted(tps)
        checked = await super()._check_log(consumer, seen)
        await self.assigned([late])
        self.late_assigned_at = time.monotonic()
        self.late_assigned.set()
        return checked


async def test_a_partition_assigned_during_a_log_check_is_checked_at_once_not_at_the_next_interval(
    common_env: dict[str, Any], db_pool: asyncpg.Pool
) -> None:
    settings = ledger_settings(common_env)
    await create_ledger_topics(settings, partitions=2)
    ledger = consumer_of(settings, db_pool, AssignedDuringACheck)
    stop = asyncio.Event()
    await ledger.start()
    running = asyncio.create_task(ledger.run(stop))
    try:
        async with asyncio.timeout(60):
            await ledger.ready_once.wait()
        ledger.armed = True
        ledger._next_log_check = 0.0  # the periodic check, now

        async with asyncio.timeout(60):
            await ledger.late_assigned.wait()
            while not ledger.ready:  # noqa: ASYNC110 - no event for "ready again"
                await asyncio.sleep(0.01)
        back_after_s = time.monotonic() - ledger.late_assigned_at
    finally:
        stop.set()
        await running
        await ledger.stop()

    # Before: the check's end postponed the one the assignment asked for by the interval (10 s).
    assert back_after_s < LOG_CHECK_INTERVAL_S / 2, back_after_s
