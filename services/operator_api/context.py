"""What every route needs, built once by the composition root and passed down."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from services.operator_api.metrics import ApiMetrics
from services.operator_api.ports import GameProvider, Ledger, Store
from services.operator_api.settings import OperatorApiSettings
from shared.currencies import CurrencyTable


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Context:
    settings: OperatorApiSettings
    store: Store
    ledger: Ledger
    provider: GameProvider
    currencies: CurrencyTable
    metrics: ApiMetrics
    clock: Callable[[], datetime] = utc_now
    ready_checks: dict[str, Callable[[], Awaitable[bool]]] = field(default_factory=dict)
