"""Latency and throughput summary shared by the ingress benchmark's processes."""

from __future__ import annotations

import resource
import sys

#: What a load process prints when its measured phase starts (``bench.ingress_bench.run_json``
#: takes the other processes' CPU from then on).
MEASURING = "measuring"


def announce_measuring() -> None:
    """Tell the bench that the clock starts now: everything before was set-up."""
    sys.stdout.write(MEASURING + "\n")
    sys.stdout.flush()


def summary(mode: str, sent: int, latencies: list[float], seconds: float) -> dict[str, object]:
    """Counts, throughput, latency percentiles in ms, and this process's peak RSS in MB."""
    ordered = sorted(latencies)

    def pct(p: float) -> float:
        if not ordered:
            return float("nan")
        return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000, 2)

    return {
        "mode": mode,
        "sent": sent,
        "answered": len(ordered),
        "seconds": round(seconds, 2),
        "throughput_per_s": round(len(ordered) / seconds, 1),
        "p50_ms": pct(0.50),
        "p90_ms": pct(0.90),
        "p99_ms": pct(0.99),
        "p999_ms": pct(0.999),
        "max_ms": pct(1.0),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
