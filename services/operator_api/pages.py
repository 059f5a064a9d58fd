"""Query parameters of paged lists, and the page shape: ``{"items": [...], "next_cursor": ...}``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from starlette.requests import Request

from services.operator_api import cursor
from services.operator_api.http import ProblemError, checked
from services.operator_api.ports import Row
from shared import identifiers

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


def limit_of(request: Request) -> int:
    text = request.query_params.get("limit")
    if text is None:
        return DEFAULT_LIMIT
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_LIMIT:
        raise ProblemError(
            "invalid-field", f"limit must be an integer from 1 to {MAX_LIMIT}", field="limit"
        )
    return int(text)


def time_of(request: Request, name: str) -> datetime | None:
    text = request.query_params.get(name)
    if text is None or not text.strip():
        return None
    try:
        value = datetime.fromisoformat(text.strip().replace(" ", "+"))
    except ValueError:
        raise ProblemError(
            "invalid-field", f"{name} must be an ISO 8601 time with a UTC offset", field=name
        ) from None
    if value.tzinfo is None:
        raise ProblemError(
            "invalid-field",
            f"{name} must carry a UTC offset (e.g. 2026-05-04T14:30:00Z)",
            field=name,
        )
    return value


def position_of(request: Request, fingerprint: str) -> cursor.Position | None:
    text = request.query_params.get("cursor")
    if not text:
        return None
    try:
        return cursor.decode(text, fingerprint)
    except cursor.InvalidCursor as exc:
        raise ProblemError("invalid-field", f"cursor: {exc}", field="cursor") from None


def optional_id(
    request: Request, name: str, rule: Callable[[object, str], str] = identifiers.provider_id
) -> str | None:
    """The query parameter ``name`` kept by ``rule`` (``shared.identifiers``); absent or empty is
    no filter."""
    text = request.query_params.get(name)
    return checked(rule, text, name) if text else None


def page(rows: Sequence[Row], limit: int, fingerprint: str) -> dict[str, Any]:
    """The first ``limit`` rows, and a cursor after the last one when more were fetched."""
    shown = rows[:limit]
    more = len(rows) > limit
    return {
        "items": [row.fields for row in shown],
        "next_cursor": cursor.encode(shown[-1].position, fingerprint) if more and shown else None,
    }
