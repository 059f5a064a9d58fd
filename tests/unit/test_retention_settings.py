"""Retention's settings: five years by default, a shorter window refused outside development."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.ledger.settings import RECORDS_RETENTION_DAYS, LedgerSettings


def test_keeps_records_five_years_by_default() -> None:
    settings = LedgerSettings(environment="production")

    assert settings.retention_days == RECORDS_RETENTION_DAYS == 1827
    assert settings.retention_outbox_days == 30


@pytest.mark.parametrize("environment", ["production", "test"])
def test_refuses_less_than_five_years_outside_development(environment: str) -> None:
    with pytest.raises(ValidationError, match="at least 1827"):
        LedgerSettings(environment=environment, retention_days=365)


def test_development_may_keep_less_but_never_under_180_days() -> None:
    assert LedgerSettings(environment="development", retention_days=180).retention_days == 180
    with pytest.raises(ValidationError):
        LedgerSettings(environment="development", retention_days=179)
