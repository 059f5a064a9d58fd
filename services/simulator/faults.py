"""Faults of the REST API on demand: the next N answers fail with a 5xx, or come late.

Driven through ``POST /_sim/faults`` (or the ``HttpFaults`` object directly), so the client's retry
tests can make Hypetech misbehave exactly as often as they need.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class HttpFaults:
    fail_next: int = 0
    fail_status: int = 503
    delay_next: int = 0
    delay_s: float = 0.0
    error_shape: str = "statusCode"
    """``statusCode`` (Hypetech's own bodies) or ``status`` (RFC 7807)."""
    failed: int = 0
    delayed: int = 0

    def take_failure(self) -> int | None:
        if self.fail_next <= 0:
            return None
        self.fail_next -= 1
        self.failed += 1
        return self.fail_status

    def take_delay(self) -> float:
        if self.delay_next <= 0:
            return 0.0
        self.delay_next -= 1
        self.delayed += 1
        return self.delay_s
