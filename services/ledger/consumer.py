"""The ledger consumer: one group on ``wallet.commands.v1``, one Postgres transaction per batch.

Per assigned partition, each fetched batch is decided and written in ONE transaction together with
the partition's next offset (``consumed_offsets``). Only after that commit are the replies sent.
Kafka offsets are a courtesy for tools (Postgres holds the truth): they are committed in the
background, all partitions in one request, one request in flight, the latest offsets winning,
at most once per ``kafka_commit_interval_s``, and flushed on revocation and stop. On assignment
the consumer seeks to the offset stored in Postgres; records fetched before that seek are dropped
by position, and the offset row (locked at the start of every batch transaction) fences out a
second consumer that still believes it owns the partition. Undecodable records go to the
dead-letter topic with their reason and get a 500 problem.

Errors are handled by class (``services.ledger.errors``): a transient fault of the database or the
broker pauses the partition and retries it from its stored offset with capped exponential backoff,
forever; a data exception or an integrity violation has the batch applied again one command at a
time, and a command the database refuses on its own is answered with a stored 500 and
dead-lettered while the partition goes on; any other error stops that partition (paused, logged,
counted, and the process no longer reports itself alive) and never skips it.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg
import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import IllegalStateError
from aiokafka.structs import ConsumerRecord
from pydantic import ValidationError

from services.ledger import spans, store
from services.ledger.decide import Command, unprocessable
from services.ledger.errors import ErrorClass, backoff_s, classify, reason_of
from services.ledger.faults import Faults
from services.ledger.metrics import LedgerMetrics
from services.ledger.model import Decision, Outcome, Policy
from services.ledger.offsets import OffsetCase, log_bounds, outside_log
from services.ledger.settings import LedgerSettings
from services.ledger.unit_of_work import Applied, Entry, OffsetGap, UnitOfWork
from shared.command_auth import COMMAND, in_scope, reply_headers, signer_of
from shared.contracts.commands import WALLET_COMMAND, LedgerReply
from shared.contracts.problems import PROBLEM_CONTENT_TYPE, problem
from shared.contracts.topics import (
    COMMANDS,
    COMMANDS_DLQ,
    HEADER_CORRELATION_ID,
    HEADER_DLQ_REASON,
    HEADER_REPLY_TO,
    TRANSACTIONS,
)
from shared.jsonwire import dumps_compact
from shared.kafka import STOP_WITHIN_S, stop_client
from shared.kafka import consumer as kafka_consumer
from shared.logs import get_logger

log = get_logger("hypeledger.ledger")


#: Consecutive seeks back to the stored offset before a partition is stopped as having a gap.
MAX_RESYNCS = 20
#: How often each owned partition's next offset is compared with its log (and at every assignment).
LOG_CHECK_INTERVAL_S = 10.0
#: The longest a comparison of the stored offsets with the log may wait for the broker.
LOG_CHECK_WITHIN_S = 5.0
#: How long one fetch round waits for records, and how long while partitions wait for their
#: first comparison with the log or none is assigned yet (a restart's readiness waits on it).
FETCH_WAIT_MS = 200
UNSETTLED_FETCH_WAIT_MS = 20
#: After its fetched records, a partition applies at most this many more batches that the consumer
#: already holds for it before the fetch round ends (see ``_apply_in_order``).
DRAIN_BATCHES = 3


@dataclass(frozen=True, slots=True)
class _Item:
    record: ConsumerRecord[bytes, bytes]
    command: Command | None
    reason: str | None
    refusal: str | None = None
    """Why the record's signature was refused (``shared.command_auth``); such a record is
    dead-lettered and never answered: its ``reply_to`` is the sender's word, not a producer's."""


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, ledger: LedgerConsumer) -> None:
        self._ledger = ledger

    async def on_partitions_revoked(self, revoked: Sequence[TopicPartition]) -> None:
        await self._ledger.revoked(revoked)

    async def on_partitions_assigned(self, assigned: Sequence[TopicPartition]) -> None:
        await self._ledger.assigned(assigned)


def command_consumer(settings: LedgerSettings, *, group_id: str | None) -> AIOKafkaConsumer:
    """The (unstarted) consumer of the command topic, its fetches bounded in bytes.

    Without the bound a backlog arrived whole (the client's default is 50 MB a fetch) and sat
    in memory until applied: peak RSS 150 -> 116 MB for the ledger benchmark's 100,000
    envelopes, at the same speed.
    """
    return kafka_consumer(
        settings,
        group_id=group_id,
        group_instance_id=(settings.instance_id or None) if group_id else None,
        client_id="hypeledger-ledger",
        fetch_max_bytes=settings.kafka_fetch_max_bytes,
        max_partition_fetch_bytes=settings.kafka_fetch_max_bytes,
    )


class LedgerConsumer:
    def __init__(
        self,
        settings: LedgerSettings,
        pool: asyncpg.Pool,
        producer: AIOKafkaProducer,
        *,
        metrics: LedgerMetrics,
        policy: Policy,
        faults: Faults,
    ) -> None:
        self._settings = settings
        self._pool = pool
        self._producer = producer
        self._metrics = metrics
        self._policy = policy
        self._faults = faults
        self._topic = settings.topic(COMMANDS)
        self._dlq_topic = settings.topic(COMMANDS_DLQ)
        self._verifier = settings.command_verifier()
        self._signer = settings.command_signer()
        self._scopes = {
            key_id: frozenset(scopes) for key_id, scopes in settings.command_key_scopes.items()
        }
        self._group = settings.consumer_group
        self._unit = UnitOfWork(
            pool,
            group=self._group,
            topic=self._topic,
            events_topic=settings.topic(TRANSACTIONS),
            policy=policy,
            faults=faults,
        )
        self._consumer: AIOKafkaConsumer | None = None
        self._positions: dict[TopicPartition, int] = {}
        self._owned: set[TopicPartition] = set()
        """Partitions assigned to this member and already sought to their stored offsets."""
        self._stopped: set[TopicPartition] = set()
        self._retry_at: dict[TopicPartition, float] = {}
        """Partitions paused after a transient fault -> when (monotonic) to fetch them again."""
        self._attempts: dict[TopicPartition, int] = {}
        """Consecutive transient failures of each partition (cleared by its next applied batch)."""
        self._rng = random.Random()  # noqa: S311 - jitter, not a secret
        self._mismatch: dict[TopicPartition, OffsetCase] = {}
        """Partitions whose stored offset is outside their log: paused until an operator
        resolves it (``services.ledger.offsets``)."""
        self._next_log_check = 0.0
        self._unchecked: set[TopicPartition] = set()
        """Assigned partitions not yet compared with their log: held until they are."""
        self._lock = asyncio.Lock()
        self._stopping = False
        self._revocations = 0
        """Revocations waiting for the lock. While one waits, or once stopping, batches in flight
        take no more buffered batches."""
        self._generation = 0
        self._gaps: dict[TopicPartition, int] = {}
        """Bumped on every assignment and revocation."""
        self._uncommitted: dict[TopicPartition, int] = {}
        """Offsets stored in Postgres and not yet committed to Kafka."""
        self._committed: dict[TopicPartition, int] = {}
        """The offsets last committed to Kafka: what Kafka's own tools measure the lag from."""
        self._committer: asyncio.Task[None] | None = None
        self._last_commit = float("-inf")
        """When the last commit to Kafka began (``time.monotonic``)."""
        self._commit_now = asyncio.Event()
        self._deliveries: set[asyncio.Task[None]] = set()
        """Replies handed to the producer whose acknowledgement is still awaited."""
        self.assigned_once = asyncio.Event()
        self.ready_once = asyncio.Event()
        """Set the first time the consumer is ready (its partitions sought and checked)."""

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        consumer = command_consumer(self._settings, group_id=self._group)
        consumer.subscribe([self._topic], listener=_Rebalance(self))
        self._consumer = consumer  # before start(): the first assignment can happen inside it
        await consumer.start()

    async def stop(self) -> None:
        consumer = self._consumer
        if consumer is not None:
            self._stopping = True
            async with self._lock:  # lets the batch in flight commit
                self._consumer = None
            try:  # a courtesy (Postgres holds the offsets): not worth a hang without a broker
                async with asyncio.timeout(STOP_WITHIN_S):
                    await self._flush_commits(consumer)
            except TimeoutError:
                log.warning("ledger.kafka_commit.skipped_at_stop", within_s=STOP_WITHIN_S)
            await stop_client(consumer)
        if self._deliveries:
            await asyncio.gather(*self._deliveries, return_exceptions=True)

    @property
    def ready(self) -> bool:
        consumer = self._consumer
        return (
            consumer is not None
            and bool(self._owned)
            and not self._stopped
            and not self._retry_at
            and not self._mismatch
            and not self._unchecked
        )

    def _held(self, tp: TopicPartition) -> bool:
        """Stopped, waiting to retry, or outside its log: not to be applied now."""
        return (
            tp in self._stopped
            or tp in self._retry_at
            or tp in self._mismatch
            or tp in self._unchecked
        )

    @property
    def alive(self) -> bool:
        """False once a partition stopped on an error the code does not understand: the
        orchestrator restarts the process (transient faults never make it so)."""
        return not self._stopped

    async def run(self, stop: asyncio.Event) -> None:
        """Fetch and apply until ``stop`` is set.

        Each fetch takes at most ``max_batch`` records per partition, from every assigned
        partition that has records buffered. A small fetch (at most ``max_batch`` records over
        several partitions) is applied in one transaction. Otherwise, or if that fails, the
        partitions are applied concurrently (one connection and transaction each).
        """
        consumer = self._consumer
        assert consumer is not None, "start() first"  # noqa: S101 - programming error
        lag = None
        if self._settings.broker_profile.exact_end_offsets:
            lag = asyncio.create_task(self._report_lag(consumer, stop))
        try:
            await self._fetch_and_apply(consumer, stop)
        finally:
            if lag is not None:
                lag.cancel()
                await asyncio.gather(lag, return_exceptions=True)

    async def _fetch_and_apply(self, consumer: AIOKafkaConsumer, stop: asyncio.Event) -> None:
        size = self._settings.max_batch
        while not stop.is_set():
            self._resume_due(consumer)
            if time.monotonic() >= self._next_log_check:
                async with self._lock:
                    checked = await self._check_log(
                        consumer, [tp for tp in self._owned if tp not in self._stopped]
                    )
                self._next_log_check = self._next_check_after(checked)
            generation = self._generation
            # Short waits while partitions wait for their first log check (or none is owned
            # yet): an assignment does not end a wait in progress, and readiness waits on it.
            settled = self._owned and not self._unchecked
            wait_ms = FETCH_WAIT_MS if settled else UNSETTLED_FETCH_WAIT_MS
            batches = await consumer.getmany(timeout_ms=wait_ms, max_records=size)
            if batches:
                batches.update(await self._top_up(consumer, batches, size))
            if not batches:
                continue
            async with self._lock:
                if generation != self._generation:
                    continue  # fetched around a rebalance: may predate the seek; fetch again
                owned = self._owned  # assigned AND positioned: never between revoke and assign
                parts = [
                    (tp, records)
                    for tp, records in batches.items()
                    if tp in owned and not self._held(tp) and records
                ]
                if (
                    len(parts) > 1
                    and sum(len(records) for _, records in parts) <= size
                    and await self._apply_together(consumer, parts)
                ):
                    continue
                await asyncio.gather(
                    *(self._apply_in_order(consumer, tp, records, size) for tp, records in parts)
                )

    def _next_check_after(self, checked: bool) -> float:
        """When to compare the owned partitions with their log again after a check.

        A check the broker did not answer is tried again soon: new partitions wait on it.
        Partitions whose assignment completed during the check (the assignment does not wait
        for the lock the check holds) were not part of it: they are checked at once, not after
        the interval (they waited 10 s, paused and unready, when the check's end postponed the
        immediate check their assignment had asked for).
        """
        now = time.monotonic()
        if not checked:
            return now + 1.0
        if self._unchecked & self._owned:
            return 0.0
        return now + LOG_CHECK_INTERVAL_S

    @staticmethod
    async def _top_up(
        consumer: AIOKafkaConsumer,
        batches: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]],
        size: int,
    ) -> dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]:
        """What the other assigned partitions have buffered, at most ``size`` records each.

        One ``getmany`` fills its ``max_records`` from the first partitions it finds, so a
        backlog came back as one or two partitions' worth and left the others idle; asking each
        partition for its share keeps every partition's transaction going at once.
        """
        more: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]] = {}
        for tp in consumer.assignment():
            if tp not in batches:
                more.update(await consumer.getmany(tp, timeout_ms=0, max_records=size))
        return more

    # -- rebalance ----------------------------------------------------------------------------

    async def assigned(self, assigned: Sequence[TopicPartition]) -> None:
        self._generation += 1
        consumer = self._consumer
        if consumer is None or not assigned:
            self._metrics.partitions_assigned.set(
                0 if consumer is None else len(consumer.assignment())
            )
            return
        # Held from now until compared with the log: not applied, and not ready, meanwhile (they
        # were marked only after the awaits below, and a fetch round in between could apply them).
        self._unchecked.update(assigned)
        stored = await self._stored_offsets_retried([tp.partition for tp in assigned])
        if stored is None:
            return  # stopping
        for tp in assigned:
            if self._held(tp):
                self._stopped.discard(tp)
                self._retry_at.pop(tp, None)
                self._mismatch.pop(tp, None)
                consumer.resume(tp)
            self._gaps.pop(tp, None)
            self._reposition(consumer, tp, stored.get(tp.partition))
            consumer.pause(tp)  # until compared with its log (``_check_log``)
            self._owned.add(tp)
        self._held_gauges()
        self._metrics.partitions_assigned.set(len(consumer.assignment()))
        log.info(
            "ledger.partitions.assigned",
            partitions=sorted(tp.partition for tp in assigned),
            stored=stored,
        )
        # Compared with the log at the top of the next fetch round, before anything of them is
        # applied (held until then), not inside the rebalance callback, which should not wait on
        # the broker.
        self._next_log_check = 0.0
        self.assigned_once.set()

    async def _stored_offsets_retried(self, partitions: list[int]) -> dict[int, int] | None:
        """The stored offsets of newly assigned partitions, retried (capped backoff, jitter) while
        the database is away: without them nothing of these partitions can be applied. None
        when the process stops meanwhile."""
        attempt = 0
        while not self._stopping:
            try:
                async with self._pool.acquire() as conn:
                    return await store.stored_offsets(conn, self._group, self._topic, partitions)
            except Exception as exc:
                if classify(exc) is not ErrorClass.TRANSIENT:
                    raise
                attempt += 1
                delay = backoff_s(attempt, self._rng)
                log.warning(
                    "ledger.partitions.assign_retrying",
                    partitions=partitions,
                    attempt=attempt,
                    retry_in_s=round(delay, 3),
                    reason=reason_of(exc),
                )
                await asyncio.sleep(delay)
        return None

    def _reposition(
        self, consumer: AIOKafkaConsumer, tp: TopicPartition, offset: int | None
    ) -> None:
        """Seek to the stored next offset; with none stored, to offset 0, where the partition's
        first command is, and expect that offset from the fetches either way.

        Expecting 0 is what keeps a never-applied partition from starting later: the log check
        stops one whose log starts later (``outside_log``), and a fetch that the broker answers
        from a later start (retention between the check and the fetch, after which aiokafka
        resets to the earliest offset) is sought back and, if the gap stays, stops the partition
        (``_resync``). A plain seek, not ``seek_to_beginning``: aiokafka's waits for the fetch in
        flight, up to the fetch wait, and an assignment of never-applied partitions waited that
        long for each.
        """
        position = 0 if offset is None else offset
        consumer.seek(tp, position)
        self._positions[tp] = position

    async def _check_log(self, consumer: AIOKafkaConsumer, tps: Sequence[TopicPartition]) -> bool:
        """Compare each partition's next offset with its log's start and end; pause (never skip)
        one outside it, and go on with one whose stored offset an operator moved back inside.

        A broker that does not answer in time leaves everything as it was until the next check.
        """
        if not tps:
            return True
        mismatched = [tp for tp in tps if tp in self._mismatch]
        try:
            async with asyncio.timeout(LOG_CHECK_WITHIN_S):
                if mismatched:  # an operator may have moved them (hypeledger ledger-offsets set)
                    async with self._pool.acquire() as conn:
                        stored = await store.stored_offsets(
                            conn, self._group, self._topic, [tp.partition for tp in mismatched]
                        )
                    for tp in mismatched:
                        self._reposition(consumer, tp, stored.get(tp.partition))
                bounds = await log_bounds(consumer, tps)
        except Exception as exc:  # noqa: BLE001 - checked again at the next interval
            log.warning("ledger.offsets.check_failed", error=repr(exc))
            return False
        # Tansu's end offsets can be short of the end: there only the start is checked.
        exact_end = self._settings.broker_profile.exact_end_offsets
        for tp in tps:
            if tp not in self._owned:
                continue  # revoked meanwhile
            start, end = bounds[tp]
            position = self._positions.get(tp)
            case = outside_log(position, start, end, exact_end=exact_end)
            if case is None:
                resolved = self._mismatch.pop(tp, None) is not None
                if resolved or tp in self._unchecked:
                    self._unchecked.discard(tp)
                    if tp not in self._stopped and tp not in self._retry_at:
                        consumer.resume(tp)
                if resolved:
                    log.warning(
                        "ledger.partition.offset_resolved",
                        partition=tp.partition,
                        next_offset=position,
                        log_start=start,
                        log_end=end,
                    )
                continue
            if self._mismatch.get(tp) is not case:
                log.error(
                    "ledger.partition.offset_mismatch",
                    partition=tp.partition,
                    case=case.value,
                    stored=position,
                    log_start=start,
                    log_end=end,
                    resolve="reconcile, then: hypeledger ledger-offsets set",
                )
            self._mismatch[tp] = case
            self._unchecked.discard(tp)
            consumer.pause(tp)
        self._held_gauges()
        if self.ready:
            self.ready_once.set()
        return True

    def _held_gauges(self) -> None:
        """Publish how many partitions are stopped, waiting to retry, or outside their log."""
        self._metrics.partitions_stopped.set(len(self._stopped))
        self._metrics.partitions_retrying.set(len(self._retry_at))
        for case in OffsetCase:
            self._metrics.offset_mismatches.labels(case.value).set(
                sum(1 for found in self._mismatch.values() if found is case)
            )

    async def revoked(self, revoked: Sequence[TopicPartition]) -> None:
        self._revocations += 1
        try:
            async with self._lock:  # waits for the batch in flight to commit
                await self._revoke(revoked)
        finally:
            self._revocations -= 1
        self._held_gauges()
        log.info("ledger.partitions.revoked", partitions=sorted(tp.partition for tp in revoked))

    async def _revoke(self, revoked: Sequence[TopicPartition]) -> None:
        consumer = self._consumer
        if consumer is not None:
            await self._flush_commits(consumer)
        self._generation += 1
        for tp in revoked:
            self._owned.discard(tp)
            self._positions.pop(tp, None)
            self._stopped.discard(tp)
            self._retry_at.pop(tp, None)
            self._attempts.pop(tp, None)
            self._mismatch.pop(tp, None)
            self._unchecked.discard(tp)
            self._committed.pop(tp, None)
            with contextlib.suppress(KeyError):  # another member reports its lag now
                self._metrics.consumer_lag.remove(str(tp.partition))

    # -- one partition batch ----------------------------------------------------------------

    async def _apply_in_order(
        self,
        consumer: AIOKafkaConsumer,
        tp: TopicPartition,
        records: list[ConsumerRecord[bytes, bytes]],
        size: int,
    ) -> None:
        """Apply a partition's fetched records in batches of at most ``size``, one after another;
        then, up to ``DRAIN_BATCHES`` times, what the consumer already holds for it.

        Without the drain every fetch waits for its slowest partition, and the partitions that
        finished first leave Postgres idle; taking the next batch that is already buffered keeps
        each partition's transactions going. Only buffered records are taken (no waiting), and
        none once a revocation or a stop waits for the lock.
        """
        generation = self._generation
        for start in range(0, len(records), size):
            if self._held(tp) or generation != self._generation:
                return  # stopped, paused or sought back: the rest is fetched again
            batch = records[start : start + size]
            with _log_context(tp, batch):
                await self._apply_guarded(consumer, tp, batch)
        for _ in range(DRAIN_BATCHES):
            if (
                self._stopping
                or self._revocations
                or self._held(tp)
                or tp not in self._owned
                or generation != self._generation
            ):
                return
            more = (await consumer.getmany(tp, timeout_ms=0, max_records=size)).get(tp)
            if not more or generation != self._generation:
                return
            with _log_context(tp, more):
                await self._apply_guarded(consumer, tp, more)

    async def _apply_guarded(
        self,
        consumer: AIOKafkaConsumer,
        tp: TopicPartition,
        records: list[ConsumerRecord[bytes, bytes]],
    ) -> None:
        try:
            try:
                await self._apply(consumer, tp, records)
            except Exception as exc:
                if classify(exc) is not ErrorClass.COMMAND:
                    raise
                await self._isolate(consumer, tp, records, exc)
        except Exception as exc:  # noqa: BLE001 - handled by class, never swallowed
            if classify(exc) is ErrorClass.TRANSIENT:
                self._retry_later(consumer, tp, records, exc)
            else:
                self._stop(consumer, tp, records)
            return
        attempts = self._attempts.pop(tp, 0)
        if attempts:
            log.info("ledger.partition.recovered", partition=tp.partition, attempts=attempts)

    def _stop(
        self,
        consumer: AIOKafkaConsumer,
        tp: TopicPartition,
        records: list[ConsumerRecord[bytes, bytes]],
    ) -> None:
        """Loud and final for this partition: never skip money. The process then reports
        itself not alive; a restart or a rebalance that assigns the partition again resumes it
        from the offset stored in Postgres."""
        log.exception(
            "ledger.partition.stopped", partition=tp.partition, first_offset=records[0].offset
        )
        self._stopped.add(tp)
        self._retry_at.pop(tp, None)
        consumer.pause(tp)
        self._metrics.partition_errors.labels(str(tp.partition)).inc()
        self._held_gauges()

    def _retry_later(
        self,
        consumer: AIOKafkaConsumer,
        tp: TopicPartition,
        records: list[ConsumerRecord[bytes, bytes]],
        exc: BaseException,
    ) -> None:
        """Pause the partition and fetch it again from its next offset after a backoff.

        The fetch loop goes on meanwhile (other partitions, heartbeats); nothing is applied twice
        because a retried batch starts from the offset stored with the last one committed.
        """
        attempt = self._attempts.get(tp, 0) + 1
        self._attempts[tp] = attempt
        delay = backoff_s(attempt, self._rng)
        reason = reason_of(exc)
        self._retry_at[tp] = time.monotonic() + delay
        position = self._positions.get(tp, records[0].offset)
        with contextlib.suppress(IllegalStateError):  # revoked meanwhile: its owner seeks
            consumer.pause(tp)
            # Records of it fetched before the seek are dropped by position (``_apply``); the
            # other partitions' fetches are left alone.
            consumer.seek(tp, position)
        self._metrics.partition_retries.labels(str(tp.partition), reason).inc()
        self._held_gauges()
        log.warning(
            "ledger.partition.retrying",
            partition=tp.partition,
            offset=position,
            attempt=attempt,
            retry_in_s=round(delay, 3),
            reason=reason,
            error=repr(exc),
        )

    def _resume_due(self, consumer: AIOKafkaConsumer) -> None:
        """Resume the paused partitions whose backoff has passed."""
        if not self._retry_at:
            return
        now = time.monotonic()
        for tp, due in list(self._retry_at.items()):
            if due <= now:
                del self._retry_at[tp]
                if tp in self._owned and tp not in self._mismatch:
                    consumer.resume(tp)
        self._held_gauges()

    async def _isolate(
        self,
        consumer: AIOKafkaConsumer,
        tp: TopicPartition,
        records: list[ConsumerRecord[bytes, bytes]],
        exc: BaseException,
    ) -> None:
        """The batch failed with a data exception or an integrity violation: apply it again one
        command at a time, so the others are applied and a command the database refuses alone
        is found (and answered with a stored 500, ``_poison``)."""
        expected = self._positions.get(tp)
        pending = [r for r in records if expected is None or r.offset >= expected]
        log.warning(
            "ledger.batch.isolating",
            partition=tp.partition,
            first_offset=pending[0].offset if pending else None,
            records=len(pending),
            reason=reason_of(exc),
            error=repr(exc),
        )
        for record in pending:
            try:
                await self._apply(consumer, tp, [record])
            except Exception as alone:
                if classify(alone) is not ErrorClass.COMMAND:
                    raise
                await self._poison(consumer, tp, record, alone)

    async def _poison(
        self,
        consumer: AIOKafkaConsumer,
        tp: TopicPartition,
        record: ConsumerRecord[bytes, bytes],
        exc: BaseException,
    ) -> None:
        """Store a 500 decision for a command the database refused on its own, dead-letter it
        with the error, move the offset past it and answer it; the partition goes on.

        Dead-lettered before the commit: a crash between them repeats the dead letter, never
        loses it. When even the 500 cannot be stored (the key itself is refused), only the
        offset moves, and every redelivery is answered 500 again the same way.
        """
        item = self._decode(record)
        detail = f"the database refused this command on its own (SQLSTATE {reason_of(exc)})"
        reason = f"database refused the command alone: {type(exc).__name__}: {exc}"[:1000]
        await self._send_dead_letter(record, reason, "database_refused")

        def refuse(_: object, command: Command) -> Decision | None:
            return unprocessable(command, detail, self._policy)

        started = time.perf_counter()
        try:
            applied = await self._unit.apply([_entry(tp, item)], refuse)
        except Exception as again:
            if classify(again) is not ErrorClass.COMMAND or item.command is None:
                raise
            offset_only = _Item(record, None, item.reason, item.refusal)
            applied = await self._unit.apply([_entry(tp, offset_only)])
        await self._book(consumer, [(tp, item)], applied, started)

    async def _apply(
        self,
        consumer: AIOKafkaConsumer,
        tp: TopicPartition,
        records: list[ConsumerRecord[bytes, bytes]],
    ) -> None:
        expected = self._positions.get(tp)
        if expected is not None:
            records = [record for record in records if record.offset >= expected]
            if records and records[0].offset > expected:
                self._resync(consumer, tp, expected, records[0].offset)
                return
        if not records:
            return
        self._gaps[tp] = 0
        items = [(tp, self._decode(record)) for record in records]
        poison = [item for _, item in items if item.command is None]
        if poison:
            await self._dead_letter(poison)
        started = time.perf_counter()
        applied = await self._unit.apply([_entry(tp, item) for tp, item in items])
        await self._book(consumer, items, applied, started)

    async def _apply_together(
        self,
        consumer: AIOKafkaConsumer,
        parts: list[tuple[TopicPartition, list[ConsumerRecord[bytes, bytes]]]],
    ) -> bool:
        """Apply small batches of several partitions as ONE unit of work; False if not applied.

        Taken only when every partition continues exactly at its expected offset and holds no
        undecodable record. Anything unusual (a resync, an error) returns False with nothing
        applied: the caller then applies each partition on its own, which handles it and stops
        only the partition at fault.
        """
        items: list[tuple[TopicPartition, _Item]] = []
        for tp, fetched in parts:
            expected = self._positions.get(tp)
            records = fetched
            if expected is not None:
                records = [record for record in fetched if record.offset >= expected]
                if not records or records[0].offset != expected:
                    return False
            for record in records:
                item = self._decode(record)
                if item.command is None:
                    return False
                items.append((tp, item))
        started = time.perf_counter()
        try:
            applied = await self._unit.apply([_entry(tp, item) for tp, item in items])
        except Exception as exc:  # noqa: BLE001 - applied again partition by partition
            log.warning("ledger.batch.together_failed", error=repr(exc))
            return False
        await self._book(consumer, items, applied, started)
        return True

    async def _book(
        self,
        consumer: AIOKafkaConsumer,
        items: Sequence[tuple[TopicPartition, _Item]],
        applied: Applied,
        started: float,
    ) -> None:
        """After a batch was applied: positions, metrics, the Kafka offset commit to come, and
        the replies. A partition whose stored offset is past what was fetched (applied before,
        by this member or another) is sought there."""
        self._faults.reach("after_db_commit")
        fetched_end: dict[TopicPartition, int] = {}
        by_position: dict[tuple[int, int], _Item] = {}
        for tp, item in items:
            fetched_end[tp] = item.record.offset + 1
            by_position[(tp.partition, item.record.offset)] = item
        for tp, end in fetched_end.items():
            next_offset = applied.next_offsets[tp.partition]
            self._positions[tp] = self._uncommitted[tp] = next_offset
            self._gaps[tp] = 0
            if next_offset > end:
                log.warning(
                    "ledger.batch.already_applied", partition=tp.partition, stored=next_offset
                )
                self._generation += 1
                consumer.seek(tp, next_offset)
        if applied.decided:
            self._metrics.apply_seconds.observe(time.perf_counter() - started)
            self._metrics.batch_size.observe(len(applied.decided))
        if self._committer is None or self._committer.done():
            self._committer = asyncio.create_task(self._commit_later(consumer))
        await self._reply([(by_position[(e.partition, e.offset)], d) for e, d in applied.decided])

    def _resync(
        self, consumer: AIOKafkaConsumer, tp: TopicPartition, expected: int, first: int
    ) -> None:
        """Records after the next offset to apply arrived: seek back to it and fetch again.

        Records fetched around a rebalance can start past the offset stored in Postgres; they
        are dropped, never applied. A gap that persists (the records are gone from the topic)
        stops the partition loudly.
        """
        self._gaps[tp] = self._gaps.get(tp, 0) + 1
        if self._gaps[tp] > MAX_RESYNCS:
            raise OffsetGap(f"partition {tp.partition}: expected offset {expected}, got {first}")
        log.warning(
            "ledger.partition.resync", partition=tp.partition, expected=expected, first=first
        )
        self._generation += 1
        consumer.seek(tp, expected)

    def _decode(self, record: ConsumerRecord[bytes, bytes]) -> _Item:
        refusal = self._verifier.refusal(
            COMMAND, key=record.key, headers=record.headers or (), value=record.value
        )
        if refusal is not None:
            return _Item(record, None, f"unauthenticated: {refusal}", refusal)
        if record.value is None:
            return _Item(record, None, "empty record")
        try:
            command = WALLET_COMMAND.validate_json(record.value)
            if self._scopes:
                key_id = signer_of(record.headers or ())
                scopes = self._scopes.get(key_id)
                if scopes is not None and not in_scope(scopes, command.type, command.kind):
                    reason = (
                        f"unauthenticated: key {key_id} may not sign {command.type}:{command.kind}"
                    )
                    return _Item(record, None, reason, "out of scope")
            return _Item(record, command, None)
        except ValidationError as exc:
            return _Item(record, None, f"not a wallet command: {exc.errors(include_url=False)[:3]}")
        except ValueError as exc:
            return _Item(record, None, f"not a wallet command: {exc}")

    async def _dead_letter(self, poison: list[_Item]) -> None:
        for item in poison:
            if item.refusal is not None:
                self._metrics.unauthenticated.labels(item.refusal).inc()
        await asyncio.gather(
            *(
                self._send_dead_letter(
                    item.record,
                    item.reason or "unknown",
                    "undecodable" if item.refusal is None else "unauthenticated",
                )
                for item in poison
            )
        )

    async def _send_dead_letter(
        self, record: ConsumerRecord[bytes, bytes], reason: str, label: str
    ) -> None:
        reason = reason[:1000]
        headers = [*(record.headers or ()), (HEADER_DLQ_REASON, reason.encode())]
        future = await self._producer.send(
            self._dlq_topic, record.value, key=record.key, headers=headers
        )
        self._metrics.dlq.labels(label).inc()
        log.error(
            "ledger.command.dead_lettered",
            offset=record.offset,
            partition=record.partition,
            reason=reason,
        )
        await future

    # -- after the commit -------------------------------------------------------------------

    async def _reply(self, decided: list[tuple[_Item, Decision | None]]) -> None:
        futures = []
        for item, decision in decided:
            self._observe(decision)
            traced = spans.decided(item.record, decision)  # tracing: the decision's span
            headers = dict(item.record.headers or ())
            reply_to = headers.get(HEADER_REPLY_TO)
            if not reply_to or item.refusal is not None:
                continue
            value = _reply_of(decision).model_dump_json().encode()
            correlation_id = headers.get(HEADER_CORRELATION_ID)
            signed = reply_headers(self._signer, correlation_id=correlation_id, value=value)
            futures.append(
                await self._producer.send(
                    reply_to.decode(), value, key=correlation_id, headers=signed + traced
                )
            )
        if futures:  # queued in order; their acknowledgements are awaited off the fetch loop
            task = asyncio.create_task(_delivered(futures))
            self._deliveries.add(task)
            task.add_done_callback(self._deliveries.discard)

    def _observe(self, decision: Decision | None) -> None:
        if decision is None:
            self._metrics.decided("unknown", "dead_lettered").inc()
            return
        self._metrics.decided(decision.kind, decision.outcome).inc()
        for flag in decision.flags:
            self._metrics.findings.labels(flag).inc()
        if decision.refused_by is not None:
            self._metrics.protection_refusals.labels(decision.refused_by).inc()
        if decision.outcome is Outcome.APPLIED:
            log.debug(
                "ledger.decision.applied",
                kind=decision.kind,
                user_id=decision.user_id,
                operator_tx_id=decision.operator_tx_id,
            )
        else:
            log.info(
                f"ledger.{decision.kind}.{decision.outcome.value}",
                user_id=decision.user_id,
                status=decision.status,
                provider_tx_id=None if decision.key is None else decision.key.provider_tx_id,
                flags=decision.flags or None,
            )

    async def _commit_later(self, consumer: AIOKafkaConsumer) -> None:
        """Commit what is pending, one request per ``kafka_commit_interval_s`` (batches stored
        during a commit wait for the next interval), until nothing is left; at once when a stop
        or a revocation asks for it (``_flush_commits``)."""
        while self._uncommitted:
            wait = self._last_commit + self._settings.kafka_commit_interval_s - time.monotonic()
            if wait > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._commit_now.wait(), wait)
            await self._commit_once(consumer)

    async def _commit_once(self, consumer: AIOKafkaConsumer) -> None:
        """Commit the offsets stored since the last commit, of owned partitions, in one request."""
        offsets, self._uncommitted = self._uncommitted, {}
        offsets = {tp: offset for tp, offset in offsets.items() if tp in self._owned}
        if not offsets:
            return
        self._last_commit = time.monotonic()
        try:
            await consumer.commit(offsets)
        except Exception as exc:  # noqa: BLE001 - Postgres holds the truth; the next commit catches up
            log.warning(
                "ledger.kafka_commit.failed",
                partitions=sorted(tp.partition for tp in offsets),
                error=repr(exc),
            )
        else:
            self._committed.update(offsets)
        if self._settings.broker_profile.exact_end_offsets:
            return
        for tp, next_offset in offsets.items():
            highwater = consumer.highwater(tp)
            if highwater is not None:
                self._metrics.consumer_lag.labels(str(tp.partition)).set(
                    max(highwater - next_offset, 0)
                )

    async def _report_lag(self, consumer: AIOKafkaConsumer, stop: asyncio.Event) -> None:
        """Every ``lag_interval_s``: each owned partition's log end offset minus the offset last
        committed to Kafka, as Kafka's own tools report it (also while nothing is applied)."""
        while not stop.is_set():
            owned = list(self._owned)
            try:
                ends = await consumer.end_offsets(owned) if owned else {}
            except Exception as exc:  # noqa: BLE001 - a metric: try again at the next interval
                log.debug("ledger.lag.unavailable", error=repr(exc))
                ends = {}
            await self._learn_committed(consumer, [tp for tp in ends if tp not in self._committed])
            for tp, end in ends.items():
                if tp not in self._owned:
                    continue  # revoked meanwhile: its new owner reports it
                committed = self._committed.get(tp, 0)  # not known yet: from the start
                self._metrics.consumer_lag.labels(str(tp.partition)).set(max(end - committed, 0))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._settings.lag_interval_s)

    async def _learn_committed(
        self, consumer: AIOKafkaConsumer, partitions: Sequence[TopicPartition]
    ) -> None:
        """What Kafka holds as committed for owned partitions this member has not committed yet
        (the previous owner's last commit; 0, the log's start, when there is none), asked once
        per partition: until this member's first commit of it, which waits up to
        ``kafka_commit_interval_s``, that is what lag tools see."""
        for tp in partitions:
            try:
                committed = await consumer.committed(tp)
            except Exception as exc:  # noqa: BLE001 - a metric: asked again at the next interval
                log.debug("ledger.lag.committed_unavailable", error=repr(exc))
                return
            if tp in self._owned:
                self._committed.setdefault(tp, 0 if committed is None else committed)

    async def _flush_commits(self, consumer: AIOKafkaConsumer) -> None:
        """Have the waiting commit made now and wait for it, then commit what is still pending,
        without waiting for the interval."""
        self._commit_now.set()
        try:
            if self._committer is not None:
                await asyncio.gather(self._committer, return_exceptions=True)
            await self._commit_later(consumer)
        finally:
            self._commit_now.clear()


def _log_context(
    tp: TopicPartition, records: list[ConsumerRecord[bytes, bytes]]
) -> contextlib.AbstractContextManager[None]:
    """Every log line of a batch names its partition and first offset; a batch of one also names
    the correlation id its sender put in the headers. Bound once per batch, unbound after it."""
    first = records[0]
    context: dict[str, object] = {"partition": tp.partition, "offset": first.offset}
    if len(records) == 1:
        correlation_id = dict(first.headers or ()).get(HEADER_CORRELATION_ID)
        if correlation_id:
            context["correlation_id"] = correlation_id.decode("utf-8", "replace")
    return structlog.contextvars.bound_contextvars(**context)


async def _delivered(futures: list[asyncio.Future[object]]) -> None:
    for result in await asyncio.gather(*futures, return_exceptions=True):
        if isinstance(result, BaseException):
            log.error("ledger.reply.failed", error=repr(result))


def _entry(tp: TopicPartition, item: _Item) -> Entry:
    return Entry(tp.partition, item.record.offset, item.command, spans.traceparent_of(item.record))


def _reply_of(decision: Decision | None) -> LedgerReply:
    if decision is None:
        body = problem(
            "unprocessable-command", "the command could not be decoded; it was dead-lettered"
        )
        return LedgerReply(status=500, body=dumps_compact(body), content_type=PROBLEM_CONTENT_TYPE)
    return LedgerReply(
        status=decision.status,
        body=decision.body,
        content_type=decision.content_type,
        operator_tx_id=decision.operator_tx_id,
        replayed=decision.outcome is Outcome.REPLAYED,
    )
