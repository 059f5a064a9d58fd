"""Hypetech's side of a session, read through the shared client at a bounded request rate.

The rate limit sits in the HTTP transport, so every request counts (pages and retries alike);
the number of sessions read at once is bounded by the runner.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import httpx

from services.reconciler.provider_rows import provider_row
from services.reconciler.rows import ProviderRow
from services.reconciler.settings import ReconcilerSettings
from services.reconciler.transport import KeepAliveTransport
from shared.hypetech import HypetechClient


class RateLimiter:
    """At most ``rate`` acquisitions per second, spaced evenly (no bursts)."""

    def __init__(
        self,
        rate: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._interval = 1.0 / rate
        self._clock = clock
        self._sleep = sleep
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        async with self._lock:
            now = self._clock()
            slot = max(self._next, now)
            self._next = slot + self._interval
        if slot > now:
            await self._sleep(slot - now)


class RateLimitedTransport(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport, limiter: RateLimiter) -> None:
        self._inner = inner
        self._limiter = limiter

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await self._limiter.acquire()
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


def build_client(settings: ReconcilerSettings) -> HypetechClient:
    transport = RateLimitedTransport(
        KeepAliveTransport(max_connections=settings.concurrency),
        RateLimiter(settings.requests_per_second),
    )
    return HypetechClient.from_settings(settings, transport=transport)


async def session_rows(
    client: HypetechClient, session_id: str, page_size: int
) -> list[ProviderRow]:
    """Every row of the session, every page."""
    return [
        provider_row(tx)
        async for tx in client.session_transactions(session_id, page_size=page_size)
    ]


async def active_session_ids(client: HypetechClient, page_size: int) -> list[str]:
    return [s.session_id async for s in client.active_sessions(page_size=page_size)]
