"""Run an asynchronous stack in a thread of its own, for synchronous tests that drive it.

A synchronous test (Schemathesis, Hypothesis) blocks the test's event loop while it runs, so a
server served on that loop would never answer. Here the stack gets its own loop in its own thread:
``with in_thread(lambda: stack_for(env)) as stack:`` yields what the context manager yields, and
leaves it (stopping every server in it) when the ``with`` ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager
from typing import TypeVar

T = TypeVar("T")

STARTS_WITHIN_S = 60.0


@contextlib.contextmanager
def in_thread(factory: Callable[[], AbstractAsyncContextManager[T]]) -> Iterator[T]:
    ready = threading.Event()
    held: list[T] = []
    failure: list[BaseException] = []
    loop: list[asyncio.AbstractEventLoop] = []
    stop: list[asyncio.Event] = []

    async def main() -> None:
        loop.append(asyncio.get_running_loop())
        stop.append(asyncio.Event())
        async with factory() as value:
            held.append(value)
            ready.set()
            await stop[0].wait()

    def run() -> None:
        try:
            asyncio.run(main())
        except BaseException as exc:  # noqa: BLE001 - reported to the starting thread
            failure.append(exc)
        finally:
            ready.set()

    thread = threading.Thread(target=run, name="stack-in-thread", daemon=True)
    thread.start()
    try:
        if not ready.wait(STARTS_WITHIN_S) or not held:
            raise RuntimeError(f"the stack did not start: {failure!r}")
        yield held[0]
    finally:
        if loop and stop:
            loop[0].call_soon_threadsafe(stop[0].set)
        thread.join(STARTS_WITHIN_S)
        if failure:
            raise failure[0]
