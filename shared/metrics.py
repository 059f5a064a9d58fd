"""The registry every service's metrics live in, set up by the Prometheus conventions.

Each composition root builds its own registry (no global state), so the default registry's
``process_*`` and ``python_*`` series would be missing: ``service_registry`` registers the
process, platform and garbage-collector collectors in it. ``_created`` series (one per counter,
histogram and labelled child, holding its creation time) are turned off: nothing reads them and
they double the series count of every counter. ``ServiceMetrics`` declares a service's metrics
on its registry, each named ``hypeledger_<service>_<name>``.
"""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
)


def service_registry(*, auto_describe: bool = False) -> CollectorRegistry:
    """A new registry with the process, platform and GC collectors, and no ``_created`` series."""
    disable_created_metrics()  # type: ignore[no-untyped-call]  # untyped in prometheus_client
    registry = CollectorRegistry(auto_describe=auto_describe)
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    return registry


class ServiceMetrics:
    """Declares one service's metrics on its registry, each named ``hypeledger_<service>_<name>``
    (Prometheus adds ``_total`` to a counter's name when it is not there)."""

    def __init__(self, service: str, registry: CollectorRegistry) -> None:
        self.prefix = f"hypeledger_{service}_"
        self.registry = registry

    def counter(self, name: str, documentation: str, *labels: str) -> Counter:
        return Counter(self.prefix + name, documentation, labels, registry=self.registry)

    def gauge(self, name: str, documentation: str, *labels: str) -> Gauge:
        return Gauge(self.prefix + name, documentation, labels, registry=self.registry)

    def histogram(
        self,
        name: str,
        documentation: str,
        *labels: str,
        buckets: Sequence[float] = Histogram.DEFAULT_BUCKETS,
    ) -> Histogram:
        return Histogram(
            self.prefix + name, documentation, labels, buckets=buckets, registry=self.registry
        )
