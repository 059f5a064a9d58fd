"""How often Python's cycle collector runs: for a whole service from start-up, or for one block."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

T = TypeVar("T")

#: Thresholds of Python's cycle collector while a service runs (the defaults are 700, 10, 10).
GC_THRESHOLDS = (50_000, 20, 10)


def collect_garbage_less_often() -> None:
    """Freeze what start-up allocated and run the cycle collector far less often.

    A service's hot path allocates many short-lived objects (records, commands, decisions,
    rows, requests) that reference counting frees. With the default thresholds the collector
    ran every 700 net allocations, and each older-generation pass walked every object the
    imports had created: 18 % of the ledger's CPU in the ledger benchmark (9.64 -> 7.93 CPU
    seconds for 100,000 envelopes, peak RSS unchanged). Frozen objects are never scanned; the
    collector still runs: the young generation every 50,000 net allocations, a full pass every
    ten million. What start-up left in cycles is collected before the freeze.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def run_service(main: Coroutine[Any, Any, T]) -> T:
    """Run a long-running service's ``main`` on asyncio's own event loop.

    Not uvloop, although its socket writes cost less CPU: uvloop raises ``RuntimeError`` on a
    write to a connection that has just closed, where asyncio ignores it, and aiokafka's group
    coordinator writes to its broker connection without expecting that. When the broker went
    away under load the coordinator's routine ended for good and took the ledger with it (the
    soak test; ``tests/unit/test_runtime.py`` shows the difference).
    """
    return asyncio.run(main)


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Run the block (a service's imports) with the cycle collector off, then turn it back on.

    Importing a service creates hundreds of thousands of objects and almost no garbage, and the
    collector, run every 700 net allocations by default, walked them again and again: the
    ledger's imports took 15 % less CPU without it (1.00 -> 0.85 s on the two-core machine),
    a restarted ledger's start being mostly its imports.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@contextlib.contextmanager
def fewer_collections() -> Iterator[None]:
    """The young generation collected every ``GC_THRESHOLDS[0]`` allocations inside the block
    (never more often than before it); the previous thresholds come back after it.

    For work that keeps many objects alive for a while in a process that is otherwise mostly
    idle (the reconciler's run: every row of a chunk lives until the chunk commits). With the
    default (every 700 allocations) almost all of them reach the oldest generation and trigger a
    full collection every few thousand rows, a fifth of a run's CPU. Objects are still freed by
    reference counting, and cycles still collected.
    """
    before = gc.get_threshold()
    gc.set_threshold(max(GC_THRESHOLDS[0], before[0]), *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)
