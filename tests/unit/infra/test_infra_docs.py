"""The configuration table in docs/infrastructure.md names every setting the services read."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings

from shared import settings

DOC = Path(__file__).resolve().parents[3] / "docs" / "infrastructure.md"
SERVICE_SETTINGS: list[type[BaseSettings]] = [
    settings.IngressSettings,
    settings.LedgerSettings,
    settings.OperatorApiSettings,
    settings.ReconcilerSettings,
]


def test_every_shared_setting_is_in_the_configuration_table() -> None:
    text = DOC.read_text()
    names = {
        f"HYPELEDGER_{field.upper()}" for cls in SERVICE_SETTINGS for field in cls.model_fields
    }

    missing = sorted(name for name in names if f"`{name}`" not in text)

    assert missing == []
