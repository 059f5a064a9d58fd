"""Stored offsets checked against the log, and the audited operator command that resolves a mismatch.

The next offset to apply of each partition is stored in Postgres (``consumed_offsets``). It must lie
between the log's start and end; when it does not, the ledger stops that partition (never skips):

* ``ahead_of_log_end``: the stored offset is past the end of the log. The topic was recreated, the
  cluster rebuilt, or the database restored next to another cluster: the records the ledger would
  wait for are not the ones it stored offsets for, and nothing would ever be applied.
* ``behind_log_start``: the stored offset is before the log's first record. Retention (or a delete
  of records) removed commands the ledger never applied: money it would lose without a word.

Only a person can decide what happened. ``hypeledger ledger-offsets`` lists each partition's stored
offset against its log, and ``hypeledger ledger-offsets set`` moves one stored offset (within the
log, with the operator's name and reason), recording the change in ``offset_resolutions``; the
running ledger picks it up at its next check and goes on from there.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from enum import StrEnum

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition

from services.ledger.settings import LedgerSettings
from shared.contracts.topics import COMMANDS
from shared.db.pool import create_pool
from shared.kafka import admin as kafka_admin
from shared.kafka import consumer as kafka_consumer
from shared.kafka import stop_client


class OffsetCase(StrEnum):
    AHEAD = "ahead_of_log_end"
    BEHIND = "behind_log_start"


def outside_log(
    next_offset: int | None, start: int, end: int, *, exact_end: bool = True
) -> OffsetCase | None:
    """Which way a stored next offset (None: nothing stored, so from offset 0) misses the log
    ``[start, end]``, or None when it fits. Without ``exact_end`` (a broker whose end offsets
    lag behind its records, as Tansu's do) only the start is checked."""
    offset = 0 if next_offset is None else next_offset
    if exact_end and offset > end:
        return OffsetCase.AHEAD
    if offset < start:
        return OffsetCase.BEHIND
    return None


async def log_bounds(
    consumer: AIOKafkaConsumer, partitions: Sequence[TopicPartition]
) -> dict[TopicPartition, tuple[int, int]]:
    """Each partition's log start (first offset still held) and end (next offset to be written)."""
    starts, ends = await asyncio.gather(
        consumer.beginning_offsets(list(partitions)), consumer.end_offsets(list(partitions))
    )
    return {tp: (starts[tp], ends[tp]) for tp in partitions}


@dataclass(frozen=True, slots=True)
class PartitionOffsets:
    partition: int
    stored: int | None
    log_start: int
    log_end: int

    @property
    def case(self) -> OffsetCase | None:
        return outside_log(self.stored, self.log_start, self.log_end)


class ResolutionRefused(ValueError):
    """The asked offset is outside the log, or the operator's name or reason is missing."""


_STORED = """
SELECT partition, next_offset
FROM consumed_offsets
WHERE group_id = $1 AND topic = $2
"""

_LOCK = """
SELECT next_offset
FROM consumed_offsets
WHERE group_id = $1 AND topic = $2 AND partition = $3
FOR UPDATE
"""

_SET = """
INSERT INTO consumed_offsets (group_id, topic, partition, next_offset)
VALUES ($1, $2, $3, $4)
ON CONFLICT (group_id, topic, partition)
DO UPDATE SET next_offset = EXCLUDED.next_offset, updated_at = now()
"""

_RECORD = """
INSERT INTO offset_resolutions
    (group_id, topic, partition, stored_before, next_offset, log_start, log_end, operator, reason)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
RETURNING resolution_id
"""


async def compare(
    conn: asyncpg.Connection,
    consumer: AIOKafkaConsumer,
    group: str,
    topic: str,
    partitions: Sequence[int],
) -> list[PartitionOffsets]:
    """Each of ``partitions`` of ``topic``: its stored offset for ``group``, its log's bounds."""
    tps = [TopicPartition(topic, p) for p in sorted(partitions)]
    bounds = await log_bounds(consumer, tps)
    stored = {
        row["partition"]: row["next_offset"] for row in await conn.fetch(_STORED, group, topic)
    }
    return [PartitionOffsets(tp.partition, stored.get(tp.partition), *bounds[tp]) for tp in tps]


async def resolve(
    conn: asyncpg.Connection,
    consumer: AIOKafkaConsumer,
    *,
    group: str,
    topic: str,
    partition: int,
    next_offset: int,
    operator: str,
    reason: str,
) -> int:
    """Set the stored next offset of one partition, within its log, and record who and why.

    Returns the resolution's id. Refuses an offset outside the log (it would stop again) and a
    change without the operator's name or a reason.
    """
    if not operator.strip() or not reason.strip():
        raise ResolutionRefused("an offset is moved only with the operator's name and a reason")
    tp = TopicPartition(topic, partition)
    start, end = (await log_bounds(consumer, [tp]))[tp]
    if not start <= next_offset <= end:
        raise ResolutionRefused(
            f"partition {partition}: offset {next_offset} is outside the log [{start}, {end}]"
        )
    async with conn.transaction():
        before = await conn.fetchval(_LOCK, group, topic, partition)
        await conn.execute(_SET, group, topic, partition, next_offset)
        resolution: int = await conn.fetchval(
            _RECORD, group, topic, partition, before, next_offset, start, end, operator, reason
        )
    return resolution


@contextlib.asynccontextmanager
async def _clients(
    settings: LedgerSettings,
) -> AsyncIterator[tuple[asyncpg.Connection, AIOKafkaConsumer]]:
    """A connection and a group-less consumer (it reads offsets, never records)."""
    pool = await create_pool(
        settings, min_size=1, max_size=1, application_name="hypeledger-ledger-offsets"
    )
    consumer = kafka_consumer(settings, group_id=None, client_id="hypeledger-ledger-offsets")
    try:
        await consumer.start()
        async with pool.acquire() as conn:
            yield conn, consumer
    finally:
        await stop_client(consumer)
        await pool.close()


async def show(settings: LedgerSettings) -> list[PartitionOffsets]:
    """The command topic's partitions, each with its stored offset and its log's bounds."""
    topic = settings.topic(COMMANDS)
    client = kafka_admin(settings)
    await client.start()
    try:
        described = await client.describe_topics([topic])
    finally:
        await client.close()
    partitions = [entry["partition"] for entry in described[0]["partitions"]]
    async with _clients(settings) as (conn, consumer):
        return await compare(conn, consumer, settings.consumer_group, topic, partitions)


async def set_offset(
    settings: LedgerSettings, *, partition: int, next_offset: int, operator: str, reason: str
) -> int:
    """``resolve`` for the command topic and the ledger's group of ``settings``."""
    async with _clients(settings) as (conn, consumer):
        return await resolve(
            conn,
            consumer,
            group=settings.consumer_group,
            topic=settings.topic(COMMANDS),
            partition=partition,
            next_offset=next_offset,
            operator=operator,
            reason=reason,
        )
