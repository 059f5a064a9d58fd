"""What a call to Hypetech can end in, besides a typed answer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.jsonwire import MalformedJson, loads_exact


class HypetechError(Exception):
    """Base of every error the Hypetech client raises."""


class HypetechUnavailable(HypetechError):
    """No usable answer after every retry: timeouts, connection errors or 5xx answers."""

    def __init__(self, message: str, *, attempts: int, last_status: int | None = None) -> None:
        super().__init__(message)
        self.attempts = attempts
        self.last_status = last_status


class HypetechApiError(HypetechError):
    """Hypetech answered with an error (RFC 7807-like body, ``status`` or ``statusCode``)."""

    def __init__(
        self,
        *,
        http_status: int,
        status: int,
        title: str,
        detail: str = "",
        type_: str = "",
        instance: str = "",
        body: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(f"Hypetech answered {status} {title}: {detail}".rstrip(": "))
        self.http_status = http_status
        self.status = status
        self.title = title
        self.detail = detail
        self.type = type_
        self.instance = instance
        self.body: Mapping[str, Any] = body or {}

    @property
    def retryable(self) -> bool:
        return self.http_status >= 500


class HypetechResponseInvalid(HypetechError):
    """A 2xx answer whose body does not have the documented shape."""


def _status_of(body: Mapping[str, Any], fallback: int) -> int:
    for key in ("status", "statusCode"):
        value = body.get(key)
        if isinstance(value, bool):
            continue
        if isinstance(value, int):
            return value
        if isinstance(value, str) and value.strip().isdigit():
            return int(value.strip())
    return fallback


def parse_error(http_status: int, raw: bytes, reason: str = "") -> HypetechApiError:
    """Read an error answer of either shape (``status`` or ``statusCode``), falling back to HTTP."""
    body: Mapping[str, Any] = {}
    try:
        parsed = loads_exact(raw) if raw else {}
    except MalformedJson:
        parsed = {}
    if isinstance(parsed, dict):
        body = parsed
    return HypetechApiError(
        http_status=http_status,
        status=_status_of(body, http_status),
        title=str(body.get("title") or reason or "HTTP error"),
        detail=str(body.get("detail") or body.get("message") or ""),
        type_=str(body.get("type") or ""),
        instance=str(body.get("instance") or ""),
        body=body,
    )
