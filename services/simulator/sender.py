"""Sends rendered webhooks to the operator the way a provider does.

A 200 is an answer, any other 4xx is an answer too (for a bet: rejected). Timeouts, connection
errors and 5xx are retried with the SAME request (same ``provider_tx_id``, same body, same
signature), a bounded number of times with backoff. A "lost reply" is a request that reached the
operator but whose answer the provider never saw: it is dropped and the request is sent again.

Any error of one attempt is that attempt's failure (no answer), whatever raised it: httpx's
transport errors, and also what a peer dying mid-request makes the client raise otherwise (an
``AttributeError`` about ``getpeername`` once killed the play loop). Only cancellation escapes.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx

from services.simulator.webhooks import RenderedWebhook

Sleep = Callable[[float], Awaitable[None]]


class NoAnswer(Exception):
    """An attempt got no HTTP answer; ``__cause__`` says why."""


@dataclass(frozen=True, slots=True)
class Delivery:
    status: int | None
    """The operator's final HTTP status; ``None`` when no attempt got an answer."""
    body: str
    attempts: int
    replies_dropped: int = 0

    @property
    def ok(self) -> bool:
        return self.status == 200

    @property
    def answered(self) -> bool:
        return self.status is not None and self.status < 500


@dataclass
class SenderStats:
    requests: int = 0
    by_status: Counter[str] = field(default_factory=Counter)
    latencies_s: deque[float] = field(default_factory=lambda: deque(maxlen=20_000))

    def percentile(self, fraction: float) -> float | None:
        if not self.latencies_s:
            return None
        ordered = sorted(self.latencies_s)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


class WebhookSender:
    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        max_attempts: int = 5,
        backoff_s: float = 0.05,
        sleep: Sleep = asyncio.sleep,
        timer: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._http = http
        self._max_attempts = max_attempts
        self._backoff_s = backoff_s
        self._sleep = sleep
        self._timer = timer
        self.stats = SenderStats()

    async def _send(self, webhook: RenderedWebhook) -> httpx.Response:
        started = self._timer()
        try:
            response = await self._http.request(
                webhook.method,
                webhook.url,
                content=webhook.body.encode(),
                headers={"Content-Type": "application/json", "Hype-Hash": webhook.signature},
            )
        except Exception as exc:  # any error of one attempt is that attempt's failure
            self.stats.requests += 1
            self.stats.by_status["no-answer"] += 1
            raise NoAnswer(repr(exc)) from exc
        self.stats.requests += 1
        self.stats.by_status[str(response.status_code)] += 1
        self.stats.latencies_s.append(self._timer() - started)
        return response

    async def deliver(
        self, webhook: RenderedWebhook, *, drop_first_reply: bool = False
    ) -> Delivery:
        """Send until an answer below 500 arrives or the attempts run out."""
        dropped = 0
        last_status: int | None = None
        last_body = ""
        for attempt in range(1, self._max_attempts + 1):
            try:
                response = await self._send(webhook)
            except NoAnswer:
                last_status, last_body = None, ""
            else:
                if drop_first_reply and dropped == 0:
                    dropped = 1  # the operator applied it; the provider never saw the answer
                elif response.status_code < 500:
                    return Delivery(response.status_code, response.text, attempt, dropped)
                else:
                    last_status, last_body = response.status_code, response.text
            if attempt < self._max_attempts:
                await self._sleep(self._backoff_s * (2 ** (attempt - 1)))
        if last_status is not None and last_status < 500:
            last_status = None
        return Delivery(last_status, last_body, self._max_attempts, dropped)

    async def replay(self, webhook: RenderedWebhook) -> Delivery:
        """Send the exact same request once more (a duplicate delivery)."""
        try:
            response = await self._send(webhook)
        except NoAnswer:
            return Delivery(None, "", 1)
        return Delivery(response.status_code, response.text, 1)
