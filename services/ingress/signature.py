"""``Hype-Hash`` verification: HMAC-SHA256, hex, over the webhook's public URL and raw body.

Pure. Hypetech signs ``url + JSON.stringify(body)`` with the operator's current API key. The URL is
the one registered with Hypetech, so it is built from configuration (``public_base_url`` + route
path), never from what a proxy handed on. The raw body bytes are hashed as received: they ARE the
sender's ``JSON.stringify`` output, and re-serialising would change numbers and spacing. A match
on the URL followed by ``?`` and the received raw query string is accepted too, and every
configured key is tried (rotation). ``verify`` says which form matched: only a signature over the
query string authenticates the query's fields (the caller must not read them otherwise). The comparison is constant-time over all candidates and
case-insensitive. Only when the raw body does not match is the body parsed and re-serialised as
Node.js's ``JSON.stringify`` would (``shared.hypetech.jsstringify``) and checked once more, for a body that was
re-formatted on its way.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from enum import Enum
from typing import Final

from shared.hypetech.jsstringify import js_stringify
from shared.jsonwire import loads_exact

HEADER: Final = "hype-hash"
_HEX_DIGITS: Final = frozenset("0123456789abcdef")


def sign(key: bytes, url: str, body: bytes) -> str:
    """The lower-case hex ``Hype-Hash`` of ``body`` sent to ``url`` under ``key``."""
    return hmac.new(key, url.encode("utf-8") + body, hashlib.sha256).hexdigest()


class Coverage(Enum):
    """What a valid signature covered."""

    BODY = "body"
    """``url + body``: the query string, if any, is not authenticated."""
    QUERY_AND_BODY = "query_and_body"
    """``url + "?" + query + body``: the query's fields are authenticated too."""


class SignatureVerifier:
    """Checks ``Hype-Hash`` against every configured key and both URL forms."""

    def __init__(self, keys: Iterable[bytes], public_base_url: str) -> None:
        self._keys = tuple(key for key in keys if key)
        self._base = public_base_url.rstrip("/")

    def url(self, path: str) -> str:
        return self._base + path

    def verify(
        self, header: str | None, *, path: str, raw_query: bytes, body: bytes
    ) -> Coverage | None:
        """What the presented ``Hype-Hash`` covers, or None when it matches no form under no key."""
        if header is None or not self._keys:
            return None
        presented = header.strip().lower()
        if len(presented) != 64 or not set(presented) <= _HEX_DIGITS:
            return None
        wanted = bytes.fromhex(presented)
        coverage = self._matches(wanted, path, raw_query, body)
        if coverage is not None:
            return coverage
        stringified = _stringified(body)
        if stringified is None:
            return None
        return self._matches(wanted, path, raw_query, stringified)

    def _matches(self, wanted: bytes, path: str, raw_query: bytes, body: bytes) -> Coverage | None:
        """Which form ``wanted`` (the raw 32-byte digest) signs, comparing in constant time."""
        url = self.url(path).encode("utf-8")
        with_query = url + b"?" + raw_query + body if raw_query else None
        body_only = with_query_matched = False
        for key in self._keys:
            body_only |= hmac.compare_digest(hmac.digest(key, url + body, "sha256"), wanted)
            if with_query is not None:
                digest = hmac.digest(key, with_query, "sha256")
                with_query_matched |= hmac.compare_digest(digest, wanted)
        if with_query_matched:
            return Coverage.QUERY_AND_BODY
        return Coverage.BODY if body_only else None


def _stringified(body: bytes) -> bytes | None:
    """``JSON.stringify`` of the parsed body when that differs from the body only in form.

    None when it is the body itself, or when it changes a value: JavaScript reads numbers as
    doubles, so ``12345678901234567890`` and ``12345678901234567000`` stringify alike; accepting
    that would let a signed body be replayed with another (exactly read) transaction id.
    """
    if not body.strip():
        return None
    try:
        parsed = loads_exact(body)
        text = js_stringify(parsed)
        if loads_exact(text) != parsed:
            return None
        encoded = text.encode("utf-8", "surrogatepass")
    except ValueError:
        return None
    return None if encoded == body else encoded
