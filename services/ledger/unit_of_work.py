"""How a batch of commands becomes money: the ledger's one unit of work.

``UnitOfWork.apply`` takes the commands fetched from one or more partitions, in offset order,
and in two statements makes them money or nothing:

1. ``store.load``: every stored row the commands can read, and each partition's stored next
   offset (Postgres holds the offsets, not Kafka). Entries below a stored offset were applied
   already (by this member before a crash, or by another one): they are dropped, never applied
   twice. A partition stored before its first entry has a gap and is refused (``OffsetGap``).
2. ``decide`` each command in order against that state (pure, ``services.ledger.decide``),
   folding each decision into the state.
3. ``store.write``: every row of the batch and the new offsets, in one statement that writes
   only if each offset is still the one loaded. The offset row is the partition's version:
   whoever changes a row this batch read (one writer per player's partition) moved it. If one
   moved, nothing was written, and the unit loads and decides again. A batch whose decisions
   fall in a month with no partition of ``decisions`` yet creates it and goes again too.

The caller fetches, dead-letters what it cannot decode, hands the rest here, and replies and
commits to Kafka only after ``apply`` returns.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import asyncpg

from services.ledger import store
from services.ledger.decide import Command, decide
from services.ledger.errors import Contended
from services.ledger.faults import Faults
from services.ledger.model import Decision, Policy
from services.ledger.state import BatchState

#: How often a batch is loaded and decided again when other writers keep moving its offsets
#: before it gives up (``Contended``, a transient fault: the partition retries after a backoff).
MAX_ATTEMPTS = 5

#: Decides one command against the batch's state; None stores nothing for it (the offset moves).
Decider = Callable[[BatchState, Command], Decision | None]


class OffsetGap(RuntimeError):
    """Records after the stored offset arrived while the ones before them never did."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One fetched record: its partition and offset, and its command (None when it could not be
    decoded: it was dead-lettered, and only the offset moves past it)."""

    partition: int
    offset: int
    command: Command | None
    traceparent: str | None = None
    """The record's W3C trace context (``services/ledger/spans.py``), for its outbox rows."""


@dataclass(frozen=True, slots=True)
class Applied:
    """What a batch became: the decision of each entry applied now, in order (None for an entry
    without a command or a decision), and each partition's next offset to apply. Entries that
    were applied before are not in ``decided``."""

    decided: list[tuple[Entry, Decision | None]]
    next_offsets: dict[int, int]


class UnitOfWork:
    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        group: str,
        topic: str,
        events_topic: str,
        policy: Policy,
        faults: Faults,
    ) -> None:
        self._pool = pool
        self._group = group
        self._topic = topic
        self._events_topic = events_topic
        self._policy = policy
        self._faults = faults

    def _decide(self, state: BatchState, command: Command) -> Decision:
        return decide(state, command, self._policy)

    async def apply(self, entries: Sequence[Entry], decider: Decider | None = None) -> Applied:
        """Apply ``entries`` (each partition's in offset order, without holes) exactly once.

        ``decider`` replaces the decision table (an unprocessable command's stored 500). Raises
        ``OffsetGap`` when a partition's stored offset is before its first entry, ``Contended``
        when other writers moved the offsets on every attempt, and whatever the database raises
        (``services.ledger.errors`` classifies it).
        """
        if not entries:
            raise ValueError("a batch has at least one entry")
        decide_one = decider or self._decide
        async with self._pool.acquire() as conn:
            for _ in range(MAX_ATTEMPTS):
                firsts = _firsts(entries)
                commands = [e.command for e in entries if e.command is not None]
                state, stored = await store.load(conn, commands, self._group, self._topic, firsts)
                if missing := {p: first for p, first in firsts.items() if p not in stored}:
                    await store.ensure_offsets(conn, self._group, self._topic, missing)
                    continue
                entries = _not_applied(entries, stored)
                if not entries:
                    return Applied([], stored)
                decided, sourced = self._decide_all(state, entries, decide_one)
                offsets = store.Offsets(
                    self._group,
                    self._topic,
                    {p: stored[p] for p in _firsts(entries)},
                    _next_offsets(entries),
                )
                self._faults.reach("mid_batch")
                try:
                    written = await store.write(conn, state, sourced, self._events_topic, offsets)
                except asyncpg.CheckViolationError as exc:
                    if not store.lacks_partition(exc):
                        raise
                    # The month's partition of decisions is missing (the hourly creation
                    # failed, or the clock jumped): nothing was written; create it, go again.
                    await store.add_months(conn)
                    continue
                if written:
                    return Applied(decided, {**stored, **offsets.next})
        raise Contended(f"offsets of partitions {sorted(firsts)} kept moving under the batch")

    def _decide_all(
        self, state: BatchState, entries: Sequence[Entry], decide_one: Decider
    ) -> tuple[list[tuple[Entry, Decision | None]], list[store.Sourced]]:
        """Decide each command in order, folding each decision into ``state``."""
        decided: list[tuple[Entry, Decision | None]] = []
        sourced: list[store.Sourced] = []
        for entry in entries:
            command = entry.command
            decision = None if command is None else decide_one(state, command)
            decided.append((entry, decision))
            if command is not None and decision is not None:
                state.apply(decision)
                source = store.Source(self._topic, entry.partition, entry.traceparent)
                sourced.append((source, entry.offset, command, decision))
        return decided, sourced


def _firsts(entries: Sequence[Entry]) -> dict[int, int]:
    firsts: dict[int, int] = {}
    for entry in entries:
        firsts.setdefault(entry.partition, entry.offset)
    return firsts


def _next_offsets(entries: Sequence[Entry]) -> dict[int, int]:
    return {entry.partition: entry.offset + 1 for entry in entries}


def _not_applied(entries: Sequence[Entry], stored: dict[int, int]) -> list[Entry]:
    """The entries at or after their partition's stored offset; ``OffsetGap`` if one partition's
    stored offset is before its first entry."""
    for partition, first in _firsts(entries).items():
        if stored[partition] < first:
            raise OffsetGap(
                f"partition {partition}: stored offset {stored[partition]}, first fetched {first}"
            )
    return [entry for entry in entries if entry.offset >= stored[entry.partition]]
