"""Hypetech's session transaction rows, turned into the matcher's ``ProviderRow``.

A run reads a million rows, so a page is read straight from its parsed JSON (exact numbers, from
``shared.jsonwire``) into rows when every row has the documented shape with plain JSON values;
that lean path accepts nothing the client's ``TransactionsPage`` model would refuse and reads
every field the same way. Any page it does not recognise (a field under its Python name, a
number sent as a string, a missing or mistyped field) is validated by the model instead, which
accepts it or rejects it with ``HypetechResponseInvalid`` exactly as the client does. A row's
evidence is rendered through the model when a finding needs it.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from functools import partial
from typing import Any, Final

from services.reconciler.rows import ProviderRow, ProviderStatus
from shared.contracts.commands import WebhookKind
from shared.hypetech import SessionTransaction
from shared.hypetech.client import parse_transactions_page
from shared.hypetech.models import exact_text, parse_requested_at

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
    return ProviderRow(
        tx_id=tx.transaction_id,
        kind=_kind(tx.transaction_type),
        status=_status(tx.transaction_status),
        amount=tx.amount,
        round_id=tx.round_id,
        round_finished=_finished(tx.round_status),
        linked_tx_id=tx.linked_transaction_id,
        requested_at=tx.requested_at_datetime,
        raw={},
        render=lambda: _evidence(tx),
    )


def page_rows(body: Any) -> tuple[list[ProviderRow], int]:
    """The rows of one parsed page of ``GET /sessions/{id}/transactions`` and its
    ``totalPages``; raises ``HypetechResponseInvalid`` for a page the model refuses."""
    lean = _lean_page(body)
    if lean is not None:
        return lean
    page = parse_transactions_page(body)
    return [provider_row(tx) for tx in page.transactions], page.pagination.total_pages


# -- the lean path ----------------------------------------------------------------------------

_PAGINATION: Final = ("pageSize", "pageNumber", "totalPages", "totalItems")
#: Keys the model also reads (``populate_by_name``): a page using them takes the model.
_PAGINATION_NAMES: Final = frozenset({"page_size", "page_number", "total_pages", "total_items"})
_ROW_NAMES: Final = frozenset(
    {
        "transaction_id",
        "round_id",
        "transaction_type",
        "requested_at",
        "transaction_status",
        "round_status",
        "user_id",
        "linked_transaction_id",
    }
)


class _NotLean(Exception):
    """The lean path does not read this value: the model decides."""


def _lean_page(body: Any) -> tuple[list[ProviderRow], int] | None:
    if type(body) is not dict:
        return None
    listed = body.get("transactions")
    pagination = body.get("pagination")
    if type(listed) is not list or type(pagination) is not dict:
        return None
    if not _PAGINATION_NAMES.isdisjoint(pagination):
        return None
    for key in _PAGINATION:
        if type(pagination.get(key)) is not int:
            return None
    times: dict[str, datetime | None] = {}
    rows = []
    try:
        for raw in listed:
            rows.append(_lean_row(raw, times))
    except _NotLean:
        return None
    return rows, pagination["totalPages"]


def _lean_row(raw: Any, times: dict[str, datetime | None]) -> ProviderRow:
    if type(raw) is not dict or not _ROW_NAMES.isdisjoint(raw):
        raise _NotLean
    get = raw.get
    tx_id = get("transactionId")
    if type(tx_id) is not str:
        tx_id = _id(tx_id)
    tx_type = get("transactionType")
    tx_status = get("transactionStatus")
    if type(tx_type) is not str or type(tx_status) is not str:
        raise _NotLean
    amount = get("amount")
    if type(amount) is int:
        amount = Decimal(amount)
    elif type(amount) is not Decimal or not amount.is_finite():
        raise _NotLean  # the model refuses NaN and infinity
    round_id = get("roundId")
    if round_id is not None and type(round_id) is not str:
        round_id = _id(round_id)
    linked = get("linkedTransactionId")
    if linked is not None and type(linked) is not str:
        linked = _id(linked)
    requested = get("requestedAt")
    if requested is None:
        requested_at = None
    elif type(requested) is not str:
        raise _NotLean
    elif requested in times:
        requested_at = times[requested]
    else:
        requested_at = times[requested] = parse_requested_at(requested)
    round_status = get("roundStatus")
    if round_status is not None and type(round_status) is not str:
        raise _NotLean
    currency = get("currency")
    if currency is not None and type(currency) is not str:
        raise _NotLean
    user_id = get("userId")  # not a field of the row, but the model must accept it
    if user_id is not None and type(user_id) is not str:
        _id(user_id)
    # positional: a run builds a million of them, and keywords cost twice as much
    return ProviderRow(
        tx_id,
        _kind(tx_type),
        _status(tx_status),
        amount,
        round_id,
        _finished(round_status),
        linked,
        requested_at,
        {},
        partial(_listed_evidence, raw),
    )


def _id(value: Any) -> str:
    """An id the model reads as text: a string, or a number as its exact decimal text."""
    if type(value) is str:
        return value
    if type(value) is int or type(value) is Decimal:
        try:
            text: str = exact_text(value)
        except ValueError:  # an int too long to write: the model refuses it
            raise _NotLean from None
        return text
    raise _NotLean


# -- both paths -------------------------------------------------------------------------------

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


def _listed_evidence(raw: dict[str, Any]) -> dict[str, Any]:
    return _evidence(SessionTransaction.model_validate(raw))


def _evidence(tx: SessionTransaction) -> dict[str, Any]:
    row = tx.model_dump(by_alias=True, exclude_none=True)
    return {
        key: format(value, "f") if isinstance(value, Decimal) else value
        for key, value in row.items()
    }
