"""Player protection's settings: the operator's time zone and the cooling-off period."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from services.ledger.settings import LedgerSettings


def test_defaults_to_utc_and_a_day_of_cooling_off() -> None:
    settings = LedgerSettings(environment="test")

    assert (settings.ledger_time_zone, settings.ledger_limit_cooling_off) == (
        "UTC",
        timedelta(hours=24),
    )


def test_reads_a_zone_and_an_iso_8601_duration() -> None:
    settings = LedgerSettings(
        environment="test", ledger_time_zone="America/Sao_Paulo", ledger_limit_cooling_off="P7D"
    )

    assert (settings.ledger_time_zone, settings.ledger_limit_cooling_off) == (
        "America/Sao_Paulo",
        timedelta(days=7),
    )


def test_refuses_an_unknown_time_zone() -> None:
    with pytest.raises(ValidationError, match="unknown time zone"):
        LedgerSettings(environment="test", ledger_time_zone="Mars/Olympus_Mons")
