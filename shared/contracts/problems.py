"""RFC 7807 problem types: the one table that maps each anticipated error slug to its HTTP status.

Every rejection hypeledger answers, from the ingress or the ledger or the operator API, is built
here, so the same slug always has the same status and the same body shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

PROBLEM_BASE = "https://hypeledger.dev/problems/"
PROBLEM_CONTENT_TYPE = "application/problem+json"

_STATUS: dict[str, tuple[int, str]] = {
    "account-not-found": (404, "Account not found"),
    "account-exists": (409, "Account already exists"),
    "player-blocked": (403, "Player blocked"),
    "invalid-session": (401, "Invalid session"),
    "invalid-amount": (400, "Invalid amount"),
    "unknown-currency": (400, "Unknown currency"),
    "transaction-rolled-back": (410, "Transaction rolled back"),
    "no-free-bets-left": (403, "No free bets left"),
    "insufficient-funds": (403, "Insufficient funds"),
    "balance-limit-exceeded": (403, "Balance limit exceeded"),
    "period-total-exceeded": (403, "Period total exceeded"),
    "limit-exceeded": (403, "Limit exceeded"),
    "player-self-excluded": (403, "Player self-excluded"),
    "bet-not-found": (404, "Bet not found"),
    "round-not-found": (404, "Round not found"),
    "bet-rolled-back": (409, "Bet rolled back"),
    "bet-already-settled": (409, "Bet already settled"),
    "duplicate-transaction-mismatch": (409, "Duplicate transaction mismatch"),
    "decision-expired": (409, "Decision expired"),
    "invalid-signature": (401, "Invalid signature"),
    "malformed-request": (400, "Malformed request"),
    "payload-too-large": (413, "Payload too large"),
    "request-timeout": (408, "Request timeout"),
    "invalid-field": (400, "Invalid field"),
    "ledger-unavailable": (503, "Ledger unavailable"),
    "unprocessable-command": (500, "Unprocessable command"),
    "unauthorized": (401, "Unauthorized"),
    "not-found": (404, "Not found"),
    "method-not-allowed": (405, "Method not allowed"),
    "idempotency-key-required": (400, "Idempotency-Key header required"),
    "game-not-found": (404, "Game not found"),
    "provider-error": (502, "Provider error"),
    "internal-error": (500, "Internal server error"),
}

PROBLEM_STATUS: Mapping[str, tuple[int, str]] = MappingProxyType(_STATUS)


def problem(
    slug: str,
    detail: str,
    *,
    instance: str = "",
    status: int | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Build a problem body. ``status`` overrides the table only where a setting says so
    (the insufficient-funds status is configurable)."""
    default_status, title = _STATUS[slug]
    code = status if status is not None else default_status
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + slug,
        "title": title,
        "status": code,
        "statusCode": code,
        "detail": detail,
        "instance": instance,
    }
    body.update({key: value for key, value in extra.items() if value is not None})
    return body


def slug_of(body: Mapping[str, Any]) -> str:
    """The slug of a problem body (the last path segment of its ``type``)."""
    return str(body.get("type", "")).rsplit("/", 1)[-1]
