"""The tests' operator time zone keeps every calendar period of a run away from its midnight."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import a_time_zone_far_from_midnight


@pytest.mark.parametrize("hour", range(24))
def test_the_zone_reads_noon_or_one_and_is_not_utc_at_every_hour_of_the_utc_day(hour: int) -> None:
    now = datetime(2026, 12, 31, hour, 59, 59, tzinfo=UTC)

    local = now.astimezone(ZoneInfo(a_time_zone_far_from_midnight(now)))

    assert (local.hour, local.minute) in {(12, 59), (13, 59)}
    assert local.utcoffset() != timedelta(0)
