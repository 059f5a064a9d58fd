"""Prometheus metrics of one operator API instance (own registry: no global state)."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry
from starlette.types import ASGIApp, Receive, Scope, Send

from shared.metrics import ServiceMetrics, service_registry
from shared.response_status import ResponseStatus


class ApiMetrics:
    def __init__(self) -> None:
        self.registry: CollectorRegistry = service_registry()
        m = ServiceMetrics("operator_api", self.registry)
        self.requests = m.counter(
            "requests_total",
            "HTTP requests answered, by route and status.",
            "route",
            "method",
            "status",
        )
        self.latency = m.histogram(
            "request_seconds", "Time to answer an HTTP request, by route.", "route"
        )
        self.ledger_replies = m.counter(
            "ledger_replies_total",
            "Ledger replies to operator commands, by command kind and status.",
            "kind",
            "status",
        )
        self.ledger_timeouts = m.counter(
            "ledger_timeouts_total", "Operator commands the ledger did not answer in time.", "kind"
        )
        self.provider_calls = m.counter(
            "provider_calls_total",
            "Calls to the game provider, by operation and outcome.",
            "operation",
            "outcome",
        )


class MetricsMiddleware:
    """Counts and times every HTTP request by the name of the route that answered it."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        answered = ResponseStatus(send)
        try:
            await self.app(scope, receive, answered)
        finally:
            endpoint = scope.get("endpoint")
            route = getattr(endpoint, "__name__", "unmatched")
            self.metrics.requests.labels(route, scope["method"], str(answered.status)).inc()
            self.metrics.latency.labels(route).observe(time.perf_counter() - started)
