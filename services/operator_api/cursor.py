"""Opaque, stable keyset cursors for the history pages.

A page is ordered newest first by ``(created_at, key...)`` (the key breaks ties between rows
written by the same database transaction); the cursor holds the last row's key and a
fingerprint of the filters it was issued for, so a cursor replayed with other filters is refused
rather than silently skipping rows. The text is URL-safe base64 of compact JSON: the same position
always gives the same cursor.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime


class InvalidCursor(ValueError):
    """The cursor is not one this API issued, or was issued for other filters."""


@dataclass(frozen=True, slots=True)
class Position:
    """The sort key of the last row of a page: rows strictly older come next."""

    created_at: datetime
    key: tuple[str | int, ...]


def filters_fingerprint(filters: Mapping[str, object]) -> str:
    """A short, order-independent fingerprint of the filter values (``None`` ones ignored)."""
    canonical = json.dumps(
        {key: str(value) for key, value in sorted(filters.items()) if value is not None},
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def encode(position: Position, fingerprint: str) -> str:
    payload = json.dumps(
        {"t": position.created_at.isoformat(), "k": list(position.key), "f": fingerprint},
        separators=(",", ":"),
    )
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def decode(cursor: str, fingerprint: str) -> Position:
    padded = cursor + "=" * (-len(cursor) % 4)
    try:
        payload = json.loads(base64.urlsafe_b64decode(padded.encode()))
        created_at = datetime.fromisoformat(payload["t"])
        key = payload["k"]
        issued_for = payload["f"]
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise InvalidCursor("the cursor is not one this API issued") from None
    if (
        not isinstance(key, list)
        or not key
        or not all(isinstance(part, str | int) and not isinstance(part, bool) for part in key)
        or created_at.tzinfo is None
    ):
        raise InvalidCursor("the cursor is not one this API issued")
    if issued_for != fingerprint:
        raise InvalidCursor("the cursor was issued for other filters")
    return Position(created_at, tuple(key))
