"""The configuration tables name every setting the services read.

docs/infrastructure.md has the main table; the HTTP servers' bounds are in docs/deploy.md.
"""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings

from services.ingress.settings import IngressSettings
from services.ledger.settings import LedgerSettings
from services.operator_api.settings import OperatorApiSettings
from services.reconciler.settings import ReconcilerSettings

DOCS = Path(__file__).resolve().parents[3] / "docs"
TABLES = [DOCS / "infrastructure.md", DOCS / "deploy.md"]
SERVICE_SETTINGS: list[type[BaseSettings]] = [
    IngressSettings,
    LedgerSettings,
    OperatorApiSettings,
    ReconcilerSettings,
]


def test_every_shared_setting_is_in_the_configuration_table() -> None:
    text = "\n".join(doc.read_text() for doc in TABLES)
    names = {
        f"HYPELEDGER_{field.upper()}" for cls in SERVICE_SETTINGS for field in cls.model_fields
    }

    missing = sorted(name for name in names if f"`{name}`" not in text)

    assert missing == []
