"""Newly assigned partitions are held, and the consumer is not ready, until each has been compared
with its log: the comparison happens in the fetch loop, after the assignment, and nothing of a
partition may be applied (nor readiness reported) before it. The comparison comes at once, also
for an assignment that completes while a comparison is under way, and positioning partitions that
never applied anything waits for nothing."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Sequence
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
        # Every turn of the event loop: the assignment's await (the stored offsets) is where a
        # wrong readiness would show.
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


@contextlib.asynccontextmanager
async def running(ledger: LedgerConsumer) -> AsyncIterator[None]:
    """The consumer started and its fetch loop running; both stopped when the block ends."""
    stop = asyncio.Event()
    await ledger.start()
    loop = asyncio.create_task(ledger.run(stop))
    try:
        yield
    finally:
        stop.set()
        await loop
        await ledger.stop()


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
    async with running(ledger):
        async with asyncio.timeout(60):
            await ledger.ready_once.wait()
        ledger.armed = True
        ledger._next_log_check = 0.0  # the periodic check, now

        async with asyncio.timeout(60):
            await ledger.late_assigned.wait()
            while not ledger.ready:  # noqa: ASYNC110 - no event for "ready again"
                await asyncio.sleep(0.01)
        back_after_s = time.monotonic() - ledger.late_assigned_at

    # Before: the check's end postponed the one the assignment asked for by the interval (10 s).
    assert back_after_s < LOG_CHECK_INTERVAL_S / 2, back_after_s


async def test_partitions_never_applied_are_positioned_without_waiting_for_a_fetch_each(
    common_env: dict[str, Any], db_pool: asyncpg.Pool
) -> None:
    # Long fetch waits make each wait plain: a seek that waits for the fetch in flight (as
    # aiokafka's seek_to_beginning does) would cost up to 2 s for each of the six partitions.
    fetch_wait_s = 2.0
    settings = ledger_settings(common_env, kafka_fetch_max_wait_ms=int(fetch_wait_s * 1000))
    await create_ledger_topics(settings, partitions=6)
    ledger = consumer_of(settings, db_pool, LedgerConsumer)
    started = time.monotonic()
    async with running(ledger):
        async with asyncio.timeout(60):
            await ledger.ready_once.wait()
        ready_after_s = time.monotonic() - started
        positions = {tp.partition: await ledger._consumer.position(tp) for tp in ledger._owned}

    # Nothing stored: each partition starts at its first command, offset 0.
    assert positions == dict.fromkeys(range(6), 0)
    # Before: 12.9 s here (a fetch wait for each partition), after: 0.5 s.
    assert ready_after_s < 2 * fetch_wait_s, ready_after_s
