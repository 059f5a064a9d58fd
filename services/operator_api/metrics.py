"""Prometheus metrics of one operator API instance (own registry: no global state)."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Receive, Scope, Send

from shared.metrics import service_registry
from shared.response_status import ResponseStatus


class ApiMetrics:
    def __init__(self) -> None:
        self.registry: CollectorRegistry = service_registry()
        self.requests = Counter(
            "hypeledger_operator_api_requests_total",
            "HTTP requests answered, by route and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "hypeledger_operator_api_request_seconds",
            "Time to answer an HTTP request, by route.",
            ["route"],
            registry=self.registry,
        )
        self.ledger_replies = Counter(
            "hypeledger_operator_api_ledger_replies_total",
            "Ledger replies to operator commands, by command kind and status.",
            ["kind", "status"],
            registry=self.registry,
        )
        self.ledger_timeouts = Counter(
            "hypeledger_operator_api_ledger_timeouts_total",
            "Operator commands the ledger did not answer in time.",
            ["kind"],
            registry=self.registry,
        )
        self.provider_calls = Counter(
            "hypeledger_operator_api_provider_calls_total",
            "Calls to the game provider, by operation and outcome.",
            ["operation", "outcome"],
            registry=self.registry,
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
