"""Exponential backoff with full jitter: how long to wait before the next attempt."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Backoff:
    """Delay before retry ``n`` (1-based): uniform in ``[0, min(cap, base * 2**(n-1))]``."""

    base_s: float = 0.1
    cap_s: float = 5.0

    def delay(self, retry: int, rng: random.Random) -> float:
        ceiling = min(self.cap_s, self.base_s * (2 ** max(0, retry - 1)))
        return rng.uniform(0.0, ceiling)
