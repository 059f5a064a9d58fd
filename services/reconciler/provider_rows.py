"""Hypetech's session transaction rows, turned into the matcher's ``ProviderRow``.

Pages are validated by the shared client (``TransactionsPage``); each row becomes a plain
``ProviderRow``, and its evidence is rendered through the model only when a finding needs it.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from functools import lru_cache, partial
from typing import Any

from services.reconciler.rows import ProviderRow, ProviderStatus
from shared.contracts.commands import WebhookKind
from shared.hypetech import SessionTransaction
from shared.hypetech.models import parse_requested_at

_KINDS = {
    "BET": WebhookKind.BET,
    "WIN": WebhookKind.WIN,
    "LOSE": WebhookKind.LOSE,
    "LOSS": WebhookKind.LOSE,
    "ROLLBACK": WebhookKind.ROLLBACK,
}
_STATUSES = {
    "SUCCESS": ProviderStatus.SUCCESS,
    "ROLLED_BACK": ProviderStatus.ROLLED_BACK,
    "CANCELLED": ProviderStatus.ROLLED_BACK,
    "REFUNDED": ProviderStatus.ROLLED_BACK,
}


def provider_row(tx: SessionTransaction) -> ProviderRow:
    """Any status but the applied ones (``SUCCESS``, ``ROLLED_BACK``) counts as not applied."""
    # positional: a run builds a million of them, and keywords cost more
    return ProviderRow(
        tx.transaction_id,
        _kind(tx.transaction_type),
        _status(tx.transaction_status),
        tx.amount,
        tx.round_id,
        _finished(tx.round_status),
        tx.linked_transaction_id,
        _requested_at(tx.requested_at),
        {},
        partial(_evidence, tx),
    )


# The texts as Hypetech sends them are looked up first; others are stripped and upper-cased.


def _kind(text: str) -> WebhookKind | None:
    kind = _KINDS.get(text)
    return kind if kind is not None else _KINDS.get(text.strip().upper())


def _status(text: str) -> ProviderStatus:
    status = _STATUSES.get(text)
    if status is not None:
        return status
    return _STATUSES.get(text.strip().upper(), ProviderStatus.FAILED)


def _finished(round_status: str | None) -> bool:
    return round_status == "FINISHED" or (round_status or "").strip().upper() == "FINISHED"


@lru_cache(maxsize=4096)
def _requested_at(text: str | None) -> datetime | None:
    """Rows of one round share their times: each distinct text is parsed once."""
    return parse_requested_at(text)


def _evidence(tx: SessionTransaction) -> dict[str, Any]:
    """The row as Hypetech listed it, numbers as exact decimal text."""
    row = tx.model_dump(by_alias=True, exclude_none=True)
    return {key: _text(value) for key, value in row.items()}


def _text(value: Any) -> Any:
    """A number as its value's decimal text (``50.10`` and ``50.1`` alike ``"50.1"``)."""
    if isinstance(value, float):  # a field only Hypetech knows, read exactly (see the client)
        value = Decimal(repr(value))
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return value
