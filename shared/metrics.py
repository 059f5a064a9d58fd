"""The registry every service's metrics live in, set up by the Prometheus conventions.

Each composition root builds its own registry (no global state), so the default registry's
``process_*`` and ``python_*`` series would be missing: ``service_registry`` registers the
process, platform and garbage-collector collectors in it. ``_created`` series (one per counter,
histogram and labelled child, holding its creation time) are turned off: nothing reads them and
they double the series count of every counter.
"""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    GCCollector,
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
