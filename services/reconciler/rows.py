"""The two sides of a session, as plain values the matcher compares.

Rows are plain slotted dataclasses compared by identity (a run builds a million of them; frozen
dataclasses cost several times more to build), and nothing mutates them after construction.

``ProviderRow`` is one row of Hypetech's ``GET /sessions/{id}/transactions``; ``LedgerRow`` is one
stored decision of the ledger for the same session. Both carry what the matcher needs and can
render themselves as evidence (JSON-ready, amounts as decimal strings).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from shared.contracts.bets import BetState
from shared.contracts.commands import WebhookKind


class ProviderStatus(StrEnum):
    SUCCESS = "success"
    """Hypetech applied it."""
    ROLLED_BACK = "rolled_back"
    """Hypetech applied it and later cancelled it (a bet)."""
    FAILED = "failed"
    """Hypetech did not apply it (refused, failed, cancelled before it counted)."""


@dataclass(slots=True, eq=False)
class ProviderRow:
    tx_id: str
    kind: WebhookKind | None
    """``None`` when Hypetech's ``transactionType`` is not one hypeledger knows."""
    status: ProviderStatus
    amount: Decimal
    round_id: str | None
    round_finished: bool
    linked_tx_id: str | None
    """The transaction this one settles or undoes, where Hypetech names it."""
    requested_at: datetime | None
    raw: dict[str, Any]
    """The row as Hypetech listed it (exact numbers as decimal strings): the evidence."""
    render: Callable[[], dict[str, Any]] | None = None
    """Builds ``raw`` on demand instead (most rows match and never need their evidence)."""

    def evidence(self) -> dict[str, Any]:
        return self.render() if self.render is not None else dict(self.raw)


@dataclass(slots=True, eq=False)
class LedgerRow:
    kind: WebhookKind
    tx_id: str
    accepted: bool
    """The stored decision applied the transaction (answered 200)."""
    http_status: int
    amount: Decimal | None
    """The amount the webhook carried, exact (a rollback's own amount, not the refund)."""
    currency: str
    user_id: str
    round_id: str | None
    decided_at: datetime
    operator_tx_id: str | None = None
    bet_state: BetState | None = None
    """Bets only: the bet's state now."""
    rollback_target: str | None = None
    """Rollbacks only: the bet id the rollback undid."""
    problem: str | None = None
    """The problem slug of a refused decision."""

    def evidence(self) -> dict[str, Any]:
        amount = self.amount
        row: dict[str, Any] = {
            "kind": self.kind.value,
            "provider_tx_id": self.tx_id,
            "accepted": self.accepted,
            "http_status": self.http_status,
            "amount": None if amount is None else format(amount, "f"),
            "currency": self.currency,
            "user_id": self.user_id,
            "round_id": self.round_id,
            "decided_at": self.decided_at.isoformat(),
            "operator_tx_id": self.operator_tx_id,
        }
        if self.bet_state is not None:
            row["bet_state"] = self.bet_state.value
        if self.rollback_target is not None:
            row["rollback_target"] = self.rollback_target
        if self.problem is not None:
            row["problem"] = self.problem
        return row
