"""Where a service's start-up time goes: phases timed from the process's own start.

A restarted service is an outage of its partitions or its requests until it serves again, so its
start is measured in parts, from the moment the operating system created the process (before the
interpreter and the imports, which are most of it), and logged with the service's
``*.started`` and ``*.ready`` lines.
"""

from __future__ import annotations

import os
import time


def process_age_s() -> float | None:
    """Seconds since the operating system started this process; None where that is unknown
    (outside Linux). Read from ``/proc``: the process's start in clock ticks since boot."""
    try:
        with open(f"/proc/{os.getpid()}/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
        started_ticks = int(fields[19])  # field 22 of proc(5); two fields precede the split
        ticks_per_s = os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None
    return max(time.clock_gettime(time.CLOCK_BOOTTIME) - started_ticks / ticks_per_s, 0.0)


class Phases:
    """Seconds per named phase of a start, the first one (``process_s``) being everything
    before the timer was made: the interpreter, the imports and the settings."""

    def __init__(self) -> None:
        self._created = self._mark = time.monotonic()
        age = process_age_s()
        self.durations: dict[str, float] = {} if age is None else {"process_s": round(age, 3)}
        self._before = 0.0 if age is None else age

    def phase(self, name: str) -> None:
        """End the phase ``name`` now (it began when the previous one ended)."""
        now = time.monotonic()
        self.durations[name] = round(now - self._mark, 3)
        self._mark = now

    def since_start_s(self) -> float:
        """Seconds since the process started (since the timer was made where that is unknown)."""
        return round(self._before + time.monotonic() - self._created, 3)
