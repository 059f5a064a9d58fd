"""The outbox relay: publishes outbox rows to ``wallet.transactions.v1``, in order, at least once.

Each pass, in one transaction holding a transaction-scoped advisory lock (so two relays never
interleave and break the order per key), reads the oldest unpublished rows in id order, publishes
them keyed by ``user_id`` as CloudEvents in binary mode (``shared/contracts/cloudevents.py``:
``ce_id`` is the stable ``event_id``, ``ce_time`` when the decision was stored), waits for every
ack, then marks them published. A crash between the acks and the commit publishes those rows
again with the same ``ce_id``: consumers dedupe on it. An event whose command carried a W3C
``traceparent`` is published in that trace (``shared/tracing.py``).
"""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg
from aiokafka import AIOKafkaProducer
from opentelemetry.trace import SpanKind

from services.ledger.metrics import LedgerMetrics
from services.ledger.settings import LedgerSettings
from shared import tracing
from shared.contracts.cloudevents import LEDGER_SOURCE, EventSource
from shared.logs import get_logger

log = get_logger("hypeledger.relay")

#: Key of the advisory lock one relay pass holds (any constant shared by every relay).
RELAY_LOCK_KEY = 0x6879_7065_7265  # "hypere"

_LOCK = "SELECT pg_try_advisory_xact_lock($1)"

_PENDING = """
SELECT id, event_id::text, topic, message_key, payload, created_at, traceparent
FROM outbox
WHERE published_at IS NULL
ORDER BY id
LIMIT $1
"""

_MARK = """
UPDATE outbox
SET published_at = now()
WHERE id = ANY($1::bigint[])
"""

_COUNT_PENDING = "SELECT count(*) FROM outbox WHERE published_at IS NULL"


def _trace_headers(topic: str, traceparent: str | None) -> list[tuple[str, bytes]]:
    """The event's trace headers: a PRODUCER span's, child of the command's context when the
    relay traces; the command's context unchanged when it does not; none without one."""
    if traceparent is None:
        return []
    carrier = {tracing.TRACEPARENT: traceparent}
    attributes = {"messaging.system": "kafka", "messaging.destination.name": topic}
    span = tracing.start_span(f"{topic} send", carrier, SpanKind.PRODUCER, attributes)
    if span is not None:
        span.end()
    return tracing.pass_on(carrier, span)


class OutboxRelay:
    def __init__(
        self,
        settings: LedgerSettings,
        pool: asyncpg.Pool,
        producer: AIOKafkaProducer,
        metrics: LedgerMetrics,
        *,
        batch: int = 1000,
    ) -> None:
        self._settings = settings
        self._pool = pool
        self._producer = producer
        self._metrics = metrics
        self._batch = batch
        self._sources: dict[str, EventSource] = {}

    async def publish_once(self) -> int:
        """One pass: publish up to ``batch`` rows; returns how many were published."""
        async with self._pool.acquire() as conn, conn.transaction():
            if not await conn.fetchval(_LOCK, RELAY_LOCK_KEY):
                return 0
            rows = await conn.fetch(_PENDING, self._batch)
            if not rows:
                return 0
            futures = [
                await self._producer.send(
                    row["topic"],
                    row["payload"].encode(),
                    key=row["message_key"].encode(),
                    headers=self._source(row["topic"]).headers(
                        event_id=row["event_id"], time=row["created_at"], subject=row["message_key"]
                    )
                    + _trace_headers(row["topic"], row["traceparent"]),
                )
                for row in rows
            ]
            await asyncio.gather(*futures)
            await conn.execute(_MARK, [row["id"] for row in rows])
        self._metrics.outbox_published.inc(len(rows))
        return len(rows)

    def _source(self, topic: str) -> EventSource:
        """The CloudEvents source of an outbox topic (named without the deployment's prefix)."""
        source = self._sources.get(topic)
        if source is None:
            name = topic.removeprefix(self._settings.topic_prefix)
            source = self._sources[topic] = EventSource(name, LEDGER_SOURCE)
        return source

    async def pending(self) -> int:
        async with self._pool.acquire() as conn:
            count: int = await conn.fetchval(_COUNT_PENDING)
        return count

    async def run(self, stop: asyncio.Event) -> None:
        interval = self._settings.relay_interval_ms / 1000
        while not stop.is_set():
            try:
                published = await self.publish_once()
            except Exception:
                log.exception("relay.pass.failed")
                published = 0
            if published < self._batch:
                with contextlib.suppress(Exception):  # a gauge only; the pass itself logs failures
                    self._metrics.outbox_pending.set(await self.pending())
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=interval)
