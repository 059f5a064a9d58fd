"""Days in the operator's time zone, as instants: what a daily report or a day's chain heads
cover."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo


def day_bounds(day: date, time_zone: str) -> tuple[datetime, datetime]:
    """The first instant of ``day`` and of the next one in ``time_zone`` (23 or 25 hours apart on
    the days clocks change)."""
    zone = ZoneInfo(time_zone)
    start = datetime.combine(day, time(0), tzinfo=zone)
    return start, datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
