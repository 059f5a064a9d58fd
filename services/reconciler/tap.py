"""The reconciler's tap of ``wallet.commands.v1``: what each webhook asked for, by key.

The ledger's decisions say what was decided; the webhook says in which session, for which round,
for how much and (rollbacks) against which bet. The tap stores the first delivery of each key
(the one the ledger decided on) in ``reconciler_webhooks``. It reads without a consumer group:
it owns every partition and keeps its offsets in Postgres, in the same transaction as the rows,
so a restart neither loses nor repeats a webhook, and no group join delays a one-shot run.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator, Sequence
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import ValidationError

from shared.contracts.commands import WALLET_COMMAND, WebhookEnvelope, WebhookKind
from shared.contracts.topics import COMMANDS
from shared.kafka import consumer, partition_count, stop_client
from shared.logs import get_logger
from shared.settings import CommonSettings

_TAPPED = frozenset({WebhookKind.BET, WebhookKind.WIN, WebhookKind.LOSE, WebhookKind.ROLLBACK})

SQL_OFFSETS = """
SELECT partition, next_offset
FROM reconciler_tap_offsets
WHERE topic = $1
"""

SQL_INSERT_WEBHOOKS = """
INSERT INTO reconciler_webhooks (
    provider, kind, provider_tx_id, session_token, user_id, currency, amount, round_id,
    target_tx_id, mode, received_at)
SELECT *
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
            $7::numeric[], $8::text[], $9::text[], $10::text[], $11::timestamptz[])
ON CONFLICT DO NOTHING
"""

SQL_SAVE_OFFSETS = """
INSERT INTO reconciler_tap_offsets (topic, partition, next_offset)
SELECT $1, unnest($2::int[]), unnest($3::bigint[])
ON CONFLICT (topic, partition) DO UPDATE
SET next_offset = excluded.next_offset,
    updated_at = now()
"""


def webhook_columns(envelopes: Sequence[WebhookEnvelope]) -> list[list[Any]]:
    """The ``unnest`` columns of ``SQL_INSERT_WEBHOOKS`` for these envelopes."""
    return [
        [e.provider for e in envelopes],
        [e.kind.value for e in envelopes],
        [e.provider_tx_id for e in envelopes],
        [e.session_token for e in envelopes],
        [e.user_id for e in envelopes],
        [e.currency for e in envelopes],
        [e.amount for e in envelopes],
        [e.round_id for e in envelopes],
        [e.rollback_target if e.kind is WebhookKind.ROLLBACK else None for e in envelopes],
        [e.mode.value for e in envelopes],
        [e.received_at for e in envelopes],
    ]


def tapped(value: bytes | None) -> WebhookEnvelope | None:
    """The webhook in a command message, or ``None`` (operator commands, balance reads, poison:
    the ledger answers those; the reconciler has nothing to match them with)."""
    if value is None:
        return None
    try:
        command = WALLET_COMMAND.validate_json(value)
    except ValidationError:
        return None
    if not isinstance(command, WebhookEnvelope):
        return None
    if command.kind not in _TAPPED or command.provider_tx_id is None:
        return None
    return command


class CommandTap:
    def __init__(self, settings: CommonSettings, pool: asyncpg.Pool) -> None:
        self._settings = settings
        self._pool = pool
        self._topic = settings.topic(COMMANDS)
        self._consumer: AIOKafkaConsumer | None = None
        self._partitions: list[TopicPartition] = []
        self._log = get_logger("reconciler.tap")
        self.stored = 0
        self.skipped = 0

    @property
    def assigned(self) -> bool:
        return self._consumer is not None and bool(self._partitions)

    async def start(self) -> None:
        self._consumer = consumer(self._settings, group_id=None, max_partition_fetch_bytes=8 << 20)
        await self._consumer.start()
        await self._assign()

    async def _assign(self) -> None:
        """Own every partition of the command topic, from the stored offsets (the topic may
        not exist yet when the reconciler starts: then this is tried again before each read)."""
        if self._consumer is None:
            raise RuntimeError("the tap is not started")
        count = await partition_count(self._settings, self._topic)
        if not count:
            return
        self._partitions = [TopicPartition(self._topic, n) for n in range(count)]
        self._consumer.assign(self._partitions)
        async with self._pool.acquire() as conn:
            stored = {
                r["partition"]: r["next_offset"] for r in await conn.fetch(SQL_OFFSETS, self._topic)
            }
        for tp in self._partitions:
            if tp.partition in stored:
                self._consumer.seek(tp, stored[tp.partition])
            else:
                await self._consumer.seek_to_beginning(tp)

    async def stop(self) -> None:
        if self._consumer is not None:
            await stop_client(self._consumer)
            self._consumer = None

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """No fetching inside the block: while a run checks sessions nobody reads the tap, and
        aiokafka would otherwise keep fetching ahead in the background. Reading goes on from
        the same position afterwards."""
        consumer, partitions = self._consumer, list(self._partitions)
        if consumer is None or not partitions:
            yield
            return
        consumer.pause(*partitions)
        try:
            yield
        finally:
            stopped = self._consumer is not consumer
            if not stopped:
                consumer.resume(*partitions)

    async def poll_once(self, timeout_ms: int = 100) -> int:
        """Fetch one batch and store it with the next offsets; returns the messages read."""
        if self._consumer is None:
            raise RuntimeError("the tap is not started")
        if not self._partitions:
            await self._assign()
            if not self._partitions:
                await asyncio.sleep(timeout_ms / 1000)
                return 0
        batches = await self._consumer.getmany(timeout_ms=timeout_ms, max_records=5000)
        envelopes: list[WebhookEnvelope] = []
        next_offsets: dict[int, int] = {}
        read = 0
        for tp, messages in batches.items():
            for message in messages:
                read += 1
                envelope = tapped(message.value)
                if envelope is None:
                    self.skipped += 1
                else:
                    envelopes.append(envelope)
                next_offsets[tp.partition] = message.offset + 1
        if not next_offsets:
            return 0
        async with self._pool.acquire() as conn, conn.transaction():
            if envelopes:
                await conn.execute(SQL_INSERT_WEBHOOKS, *webhook_columns(envelopes))
            await conn.execute(
                SQL_SAVE_OFFSETS, self._topic, list(next_offsets), list(next_offsets.values())
            )
        self.stored += len(envelopes)
        return read

    async def _end_offsets(self) -> dict[TopicPartition, int] | None:
        """Every partition's end offset now, where the broker's are exact (else None)."""
        if self._consumer is None or not self._settings.broker_profile.exact_end_offsets:
            return None
        if not self._partitions:
            await self._assign()
        ends: dict[TopicPartition, int] = await self._consumer.end_offsets(self._partitions)
        return ends

    async def _reached(self, ends: dict[TopicPartition, int]) -> bool:
        assert self._consumer is not None  # noqa: S101 - checked by the caller
        for tp, end in ends.items():
            if await self._consumer.position(tp) < end:
                return False
        return True

    async def caught_up(self) -> bool:
        """Every partition read up to its high watermark as of the last fetch."""
        if self._consumer is None:
            return False
        for tp in self._partitions:
            highwater = self._consumer.highwater(tp)
            if highwater is None or await self._consumer.position(tp) < highwater:
                return False
        return True

    async def catch_up(self, *, max_s: float = 30.0) -> int:
        """Read until the end of every partition as of now (bounded by ``max_s``).

        On Apache Kafka "the end" is each partition's end offset, asked for first; on Tansu,
        whose end offsets can be too low, it is three empty polls or the fetch's high watermark.
        """
        deadline = time.monotonic() + max_s
        total = 0
        empty_polls = 0
        ends = await self._end_offsets()
        while time.monotonic() < deadline:
            if ends is not None and await self._reached(ends):
                break
            read = await self.poll_once()
            total += read
            empty_polls = 0 if read else empty_polls + 1
            if ends is None and read == 0 and (empty_polls >= 3 or await self.caught_up()):
                break
        self._log.info("reconciler.tap.caught_up", read=total, stored=self.stored)
        return total
