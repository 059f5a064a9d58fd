"""JSON shapes of what the API answers with (amounts as decimal strings of the currency)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.operator_api.ports import Account
from shared.currencies import CurrencyTable
from shared.money import format_minor


def account_view(account: Account, currencies: CurrencyTable) -> dict[str, Any]:
    return {
        "user_id": account.user_id,
        "currency": account.currency,
        "balance": format_minor(account.balance_minor, account.currency, currencies),
        "blocked": account.blocked,
        "created_at": account.created_at.isoformat(),
        "updated_at": account.updated_at.isoformat(),
    }


def balance_view(account: Account, currencies: CurrencyTable) -> dict[str, Any]:
    """The account's view without its times."""
    view = account_view(account, currencies)
    return {key: view[key] for key in ("user_id", "currency", "balance", "blocked")}


def balance_at_view(
    account: Account, balance_minor: int, at: datetime, currencies: CurrencyTable
) -> dict[str, Any]:
    """The balance as of ``at``: after every posting at or before it, 0 before the first."""
    return {
        "user_id": account.user_id,
        "currency": account.currency,
        "balance": format_minor(balance_minor, account.currency, currencies),
        "at": at.isoformat(),
    }
