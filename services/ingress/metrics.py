"""The ingress's Prometheus metrics, on a registry of its own (one per app, never global)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from shared.metrics import ServiceMetrics, service_registry

LATENCY_BUCKETS = (
    0.002,
    0.005,
    0.01,
    0.015,
    0.02,
    0.03,
    0.05,
    0.075,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
    5,
    10,
)


class IngressMetrics:
    def __init__(self) -> None:
        self._children: dict[tuple[str, int], tuple[Any, Any]] = {}
        self.registry: CollectorRegistry = service_registry(auto_describe=True)
        m = ServiceMetrics("ingress", self.registry)
        self.requests = m.counter(
            "requests", "Webhook requests answered, by route and HTTP status.", "route", "status"
        )
        self.latency = m.histogram(
            "request_seconds",
            "Time from the request's arrival to its answer, by route.",
            "route",
            buckets=LATENCY_BUCKETS,
        )
        self.in_flight = m.gauge("in_flight", "Webhook requests being handled right now.")
        self.timeouts = m.counter(
            "ledger_timeouts", "Webhooks answered 503 because the ledger did not reply in time."
        )

    def observe(self, route: str, status: int, seconds: float) -> None:
        """Count one answered request and its latency (label children cached per route/status)."""
        children = self._children.get((route, status))
        if children is None:
            children = (self.requests.labels(route, str(status)), self.latency.labels(route))
            self._children[(route, status)] = children
        counter, histogram = children
        counter.inc()
        histogram.observe(seconds)

    def count_link_replies(self, unmatched: Callable[[], int], forged: Callable[[], int]) -> None:
        """Expose the request-reply link's running counts: replies nobody waited for, and
        replies refused as not signed by the ledger."""
        self.registry.register(
            _LinkCounter(
                unmatched,
                lambda value: CounterMetricFamily(
                    "hypeledger_ingress_unmatched_replies",
                    "Replies that arrived for no waiting request (after a timeout), since start.",
                    value=value,
                ),
            )
        )
        self.registry.register(
            _LinkCounter(
                forged,
                lambda value: CounterMetricFamily(
                    "hypeledger_ingress_forged_replies",
                    "Replies refused as not signed by the ledger (shared.command_auth), since start.",
                    value=value,
                ),
            )
        )


class _LinkCounter(Collector):
    """A counter read from the link at scrape time (the link counts; a Prometheus counter
    cannot be set)."""

    def __init__(
        self, read: Callable[[], int], family: Callable[[int | None], CounterMetricFamily]
    ) -> None:
        self._read = read
        self._family = family

    def collect(self) -> Iterator[CounterMetricFamily]:
        yield self._family(self._read())

    def describe(self) -> Iterator[CounterMetricFamily]:
        yield self._family(None)
