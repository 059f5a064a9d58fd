"""Hypetech's session transaction rows, turned into the matcher's ``ProviderRow``."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from services.reconciler.rows import ProviderRow, ProviderStatus, TxKind
from shared.hypetech import SessionTransaction

_KINDS = {
    "BET": TxKind.BET,
    "WIN": TxKind.WIN,
    "LOSE": TxKind.LOSE,
    "LOSS": TxKind.LOSE,
    "ROLLBACK": TxKind.ROLLBACK,
}
_STATUSES = {
    "SUCCESS": ProviderStatus.SUCCESS,
    "ROLLED_BACK": ProviderStatus.ROLLED_BACK,
    "CANCELLED": ProviderStatus.ROLLED_BACK,
    "REFUNDED": ProviderStatus.ROLLED_BACK,
}


def provider_row(tx: SessionTransaction) -> ProviderRow:
    """Any status but the applied ones (``SUCCESS``, ``ROLLED_BACK``) counts as not applied."""
    status_text = tx.transaction_status.strip().upper()
    return ProviderRow(
        tx_id=tx.transaction_id,
        kind=_KINDS.get(tx.transaction_type.strip().upper()),
        status=_STATUSES.get(status_text, ProviderStatus.FAILED),
        amount=tx.amount,
        round_id=tx.round_id,
        round_finished=(tx.round_status or "").strip().upper() == "FINISHED",
        linked_tx_id=tx.linked_transaction_id,
        requested_at=tx.requested_at_datetime,
        raw={},
        render=lambda: _evidence(tx),
    )


def _evidence(tx: SessionTransaction) -> dict[str, Any]:
    row = tx.model_dump(by_alias=True, exclude_none=True)
    return {
        key: format(value, "f") if isinstance(value, Decimal) else value
        for key, value in row.items()
    }
