"""Request-reply over Kafka: publish a command, await the reply that names its correlation id.

Used by every service that asks the ledger something and waits for the answer (the ingress, the
operator API). Each client instance owns a reply topic, ``settings.topic(reply_topic(instance))``,
created with one partition and read by a consumer with NO group (assigned directly: no join, no
rebalance). The reply consumer is started and positioned before ``start()`` returns, so a service
that reports ready only after ``start()`` never misses a reply. Replies whose correlation id is not
awaited any more (they came after a timeout, or before a restart) are counted and dropped.

While it runs, a client writes a heartbeat record (header ``hypeledger_heartbeat``, empty value)
to its current reply topic every ``REPLY_HEARTBEAT_S``; its reader skips them. A reply topic
without a recent record is therefore nobody's, and ``hypeledger reply-topics prune``
(``shared/reply_topics.py``) deletes it.

The reply consumer starts from the end its broker reports and drops anything stale by correlation
id, which is right on Apache Kafka and safe on the Tansu fallback, whose reported end can be too
early. ``linger_ms`` is 0 unless set (``HYPELEDGER_KAFKA_LINGER_MS``): each message has one
awaited reply. What else differs between the two brokers (fetch waits, reply-topic roll-over)
comes from ``settings.broker_profile``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError

from shared import kafka, tracing
from shared.command_auth import REPLY, command_headers
from shared.contracts.topics import (
    COMMANDS,
    HEADER_CONTENT_TYPE,
    HEADER_CORRELATION_ID,
    reply_topic,
)
from shared.kafka import ensure_topics, stop_client
from shared.logs import get_logger
from shared.settings import CommonSettings

REPLY_FETCH_MAX_BYTES: Final = 8 * 1024 * 1024
#: Seconds between two heartbeats on the current reply topic (the pruner's idle window is longer).
REPLY_HEARTBEAT_S: Final = 60.0
HEADER_HEARTBEAT: Final = "hypeledger_heartbeat"
# Requests answered on one reply topic before the client moves to a fresh one come from
# ``settings.reply_rollover_after``: Tansu's fetch cost grows with the number of record batches in
# a partition (``docs/infra-notes.md``), so there a reply topic that grew without bound would starve
# its consumer after some tens of thousands of replies; Apache Kafka needs no roll-over.


class RpcError(Exception):
    """A request got no reply."""


class RpcTimeout(RpcError):
    """No reply arrived within the timeout (the request may still be applied later)."""


class RpcUnavailable(RpcError):
    """The request could not be published, or the client is not running."""


@dataclass(frozen=True, slots=True)
class RpcReply:
    value: bytes
    headers: Mapping[str, bytes]
    correlation_id: str


@dataclass(slots=True)
class RpcStats:
    """Counters a service exports as metrics."""

    sent: int = 0
    replied: int = 0
    timeouts: int = 0
    unmatched_replies: int = 0
    forged_replies: int = 0
    """Replies refused: unsigned, or not signed by a key this client accepts."""


class KafkaRpcClient:
    """Publishes requests to ``request_topic`` and awaits replies on this instance's reply topic."""

    def __init__(
        self,
        settings: CommonSettings,
        *,
        request_topic: str,
        instance_id: str = "",
        client_id: str = "hypeledger-rpc",
        roll_over_after: int | None = None,
    ) -> None:
        self._settings = settings
        self.request_topic = settings.topic(request_topic)
        self.instance_id = instance_id or uuid.uuid4().hex[:12]
        self._reply_name = reply_topic(self.instance_id)
        self.reply_topic = settings.topic(self._reply_name)
        self._client_id = client_id
        self._roll_over_after = (
            settings.reply_rollover_after if roll_over_after is None else roll_over_after
        )
        self._generation = 0
        self._sent_on_topic = 0
        self._longest_timeout_s = 0.0
        self._rolling: asyncio.Task[None] | None = None
        self._retirements: dict[TopicPartition, asyncio.TimerHandle] = {}
        self._positions: dict[TopicPartition, int] = {}
        self._pending: dict[str, asyncio.Future[RpcReply]] = {}
        self._producer: AIOKafkaProducer | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._reader: asyncio.Task[None] | None = None
        self._heartbeat: asyncio.Task[None] | None = None
        self._log = get_logger("kafka_rpc").bind(reply_topic=self.reply_topic)
        self._signer = settings.command_signer()
        self._verifier = settings.command_verifier()
        self.stats = RpcStats()

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    @property
    def reply_consumer_assigned(self) -> bool:
        """True once the reply consumer owns its partition and its reader runs."""
        return (
            self._consumer is not None
            and bool(self._consumer.assignment())
            and self._reader is not None
            and not self._reader.done()
        )

    async def start(self) -> None:
        """Create the reply topic, start the producer, assign and position the reply consumer."""
        settings = self._settings
        started = time.monotonic()
        producer = kafka.producer(settings, client_id=f"{self._client_id}-{self.instance_id}")
        consumer = kafka.consumer(
            settings,
            group_id=None,
            client_id=f"{self._client_id}-{self.instance_id}-replies",
            fetch_max_bytes=REPLY_FETCH_MAX_BYTES,
        )
        # The reply topic is created while both clients connect (a restart waits for the slowest
        # of the three, not their sum); the consumer is positioned once the topic exists.
        outcomes = await asyncio.gather(
            ensure_topics(settings, {reply_topic(self.instance_id): 1}),
            producer.start(),
            consumer.start(),
            return_exceptions=True,
        )
        try:
            _raise_any(outcomes)
            partition = TopicPartition(self.reply_topic, 0)
            consumer.assign([partition])
            end = await consumer.end_offsets([partition])
            consumer.seek(partition, end[partition])
            self._positions[partition] = end[partition]
        except BaseException:
            await consumer.stop()
            await producer.stop()
            raise
        self._producer, self._consumer = producer, consumer
        self._reader = asyncio.create_task(self._read_replies(consumer), name="rpc-replies")
        self._reader.add_done_callback(self._reader_ended)
        self._heartbeat = asyncio.create_task(self._beat(producer), name="rpc-heartbeat")
        self._log.info(
            "rpc.started",
            request_topic=self.request_topic,
            start_s=round(time.monotonic() - started, 3),
        )

    async def stop(self) -> None:
        for task in (self._heartbeat, self._rolling, self._reader):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._heartbeat = self._rolling = self._reader = None
        for handle in self._retirements.values():
            handle.cancel()
        self._retirements.clear()
        for future in self._pending.values():
            if not future.done():
                future.set_exception(RpcUnavailable("the client stopped"))
        self._pending.clear()
        consumer, self._consumer = self._consumer, None
        producer, self._producer = self._producer, None
        if consumer is not None:
            await stop_client(consumer)
        if producer is not None:
            await stop_client(producer)
        if consumer is not None or producer is not None:
            self._log.info("rpc.stopped")

    async def broker_reachable(self, timeout_s: float = 1.0) -> bool:
        """True when the broker answers a metadata request within ``timeout_s``."""
        if self._producer is None:
            return False
        try:
            async with asyncio.timeout(timeout_s):
                return bool(await self._producer.client.force_metadata_update())
        except (KafkaError, OSError, TimeoutError):
            return False

    async def request(
        self,
        *,
        key: str,
        value: bytes,
        timeout_s: float,
        correlation_id: str | None = None,
        headers: Sequence[tuple[str, bytes]] = (),
        content_type: str = "application/json",
    ) -> RpcReply:
        """Publish ``value`` keyed by ``key`` and return the reply carrying its correlation id.

        Raises ``RpcTimeout`` when nothing answers within ``timeout_s`` (publishing included) and
        ``RpcUnavailable`` when the message cannot be published at all.
        """
        producer = self._producer
        if producer is None or not self.reply_consumer_assigned:
            raise RpcUnavailable("the request-reply client is not running")
        cid = correlation_id or uuid.uuid4().hex
        self._longest_timeout_s = max(self._longest_timeout_s, timeout_s)
        future: asyncio.Future[RpcReply] = asyncio.get_running_loop().create_future()
        self._pending[cid] = future
        record_key = key.encode()
        with tracing.producer_span(self.request_topic) as trace_headers:
            all_headers = [
                *command_headers(
                    self._signer,
                    key=record_key,
                    correlation_id=cid.encode(),
                    reply_to=self.reply_topic.encode(),
                    value=value,
                ),
                (HEADER_CONTENT_TYPE, content_type.encode()),
                *headers,
                *trace_headers,
            ]
            return await self._send_and_await(
                producer,
                record_key=record_key,
                value=value,
                all_headers=all_headers,
                cid=cid,
                future=future,
                timeout_s=timeout_s,
            )

    async def _send_and_await(
        self,
        producer: AIOKafkaProducer,
        *,
        record_key: bytes,
        value: bytes,
        all_headers: list[tuple[str, bytes]],
        cid: str,
        future: asyncio.Future[RpcReply],
        timeout_s: float,
    ) -> RpcReply:
        try:
            async with asyncio.timeout(timeout_s):
                try:
                    await producer.send_and_wait(
                        self.request_topic, value, key=record_key, headers=all_headers
                    )
                except KafkaError as exc:
                    raise RpcUnavailable(f"could not publish: {exc}") from exc
                self.stats.sent += 1
                self._count_on_topic()
                return await future
        except TimeoutError:
            self.stats.timeouts += 1
            raise RpcTimeout(f"no reply within {timeout_s} s") from None
        finally:
            self._pending.pop(cid, None)

    def _reader_ended(self, reader: asyncio.Task[None]) -> None:
        """A reply reader that dies leaves the client unready (every request then fails fast)."""
        if not reader.cancelled() and reader.exception() is not None:
            self._log.error("rpc.reply_reader_died", exc_info=reader.exception())

    def _count_on_topic(self) -> None:
        self._sent_on_topic += 1
        if 0 < self._roll_over_after <= self._sent_on_topic and self._rolling is None:
            self._rolling = asyncio.create_task(self._roll_over(), name="rpc-roll-over")

    @property
    def reply_topics_read(self) -> list[str]:
        """The reply topics being read: the current one and those whose replies may still come."""
        return sorted(partition.topic for partition in self._positions)

    async def _roll_over(self) -> None:
        """Move to a fresh reply topic; read the old one too until its requests have timed out.

        The next roll-over may come before the old topic is retired: each old topic has its own
        retirement timer, so a busy client rolls over every ``roll_over_after`` requests.
        """
        consumer = self._consumer
        if consumer is None:  # pragma: no cover - stop() cancels this task first
            return
        try:
            await self._move_to_fresh_reply_topic(consumer)
        except KafkaError as exc:
            self._log.warning("rpc.roll_over_failed", error=str(exc))
        finally:
            self._rolling = None

    async def _move_to_fresh_reply_topic(self, consumer: AIOKafkaConsumer) -> None:
        name = f"{self._reply_name}.g{self._generation + 1}"
        await ensure_topics(self._settings, {name: 1})
        fresh = TopicPartition(self._settings.topic(name), 0)
        start = (await consumer.end_offsets([fresh]))[fresh]
        old = TopicPartition(self.reply_topic, 0)
        self._positions[fresh] = start
        self._assign_positions(consumer)
        self.reply_topic = fresh.topic
        self._generation += 1
        self._sent_on_topic = 0
        self._log.info("rpc.reply_topic_rolled_over", new_reply_topic=fresh.topic)
        self._retirements[old] = asyncio.get_running_loop().call_later(
            self._longest_timeout_s + 1.0, self._retire, old
        )

    def _retire(self, partition: TopicPartition) -> None:
        """Stop reading an old reply topic: every request that named it has timed out."""
        self._retirements.pop(partition, None)
        consumer = self._consumer
        if consumer is None or self._positions.pop(partition, None) is None:
            return
        self._assign_positions(consumer)

    def _assign_positions(self, consumer: AIOKafkaConsumer) -> None:
        """Read exactly the partitions of ``_positions``, each from its recorded position.

        ``assign()`` resets every position, so each one is put back before anything is fetched
        (nothing awaits in between): no reply is skipped and none is delivered twice.
        """
        positions = dict(self._positions)
        consumer.assign(list(positions))
        for partition, position in positions.items():
            consumer.seek(partition, position)

    async def _read_replies(self, consumer: AIOKafkaConsumer) -> None:
        while True:
            try:
                batches = await consumer.getmany(timeout_ms=1000)
            except KafkaError as exc:
                self._log.warning("rpc.fetch_failed", error=str(exc))
                await asyncio.sleep(0.1)
                continue
            for partition, records in batches.items():
                for record in records:
                    self._deliver(record.value or b"", record.headers or ())
                if records and partition in self._positions:
                    self._positions[partition] = records[-1].offset + 1

    async def _beat(self, producer: AIOKafkaProducer) -> None:
        """Mark the current reply topic as in use, now and every ``REPLY_HEARTBEAT_S``."""
        while True:
            try:
                await producer.send_and_wait(
                    self.reply_topic, b"", headers=[(HEADER_HEARTBEAT, b"1")]
                )
            except KafkaError as exc:
                self._log.warning("rpc.heartbeat_failed", error=str(exc))
            await asyncio.sleep(REPLY_HEARTBEAT_S)

    def _deliver(self, value: bytes, headers: Sequence[tuple[str, bytes]]) -> None:
        header_map = dict(headers)
        if HEADER_HEARTBEAT in header_map:
            return  # this client's own mark that the topic is in use
        refusal = self._verifier.refusal(REPLY, key=b"", headers=header_map, value=value)
        if refusal is not None:
            # Not the ledger's answer: the request it names keeps waiting (then times out).
            self.stats.forged_replies += 1
            self._log.warning("rpc.reply.refused", reason=refusal)
            return
        cid_raw = header_map.get(HEADER_CORRELATION_ID)
        cid = cid_raw.decode("utf-8", "replace") if cid_raw is not None else ""
        future = self._pending.get(cid)
        if future is None or future.done():
            self.stats.unmatched_replies += 1
            return
        self.stats.replied += 1
        future.set_result(RpcReply(value=value, headers=header_map, correlation_id=cid))


def _raise_any(outcomes: Sequence[object]) -> None:
    """Raise the first exception among ``asyncio.gather(..., return_exceptions=True)``'s results."""
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome


async def ledger_client(
    stack: contextlib.AsyncExitStack, settings: CommonSettings, *, instance_id: str, client_id: str
) -> KafkaRpcClient:
    """A started client of the ledger's command topic, stopped when ``stack`` closes (for the
    services that ask the ledger from within their start-up stack)."""
    client = KafkaRpcClient(
        settings, request_topic=COMMANDS, instance_id=instance_id, client_id=client_id
    )
    await client.start()
    stack.push_async_callback(client.stop)
    return client
