"""``Hype-Hash`` verification: HMAC-SHA256, hex, over the webhook's public URL and raw body.

Pure. Hypetech signs ``url + JSON.stringify(body)`` with the operator's current API key. The URL is
the one registered with Hypetech, so it is built from configuration (``public_base_url`` + route
path), never from what a proxy handed on. The raw body bytes are hashed as received: they ARE the
sender's ``JSON.stringify`` output, and re-serialising would change numbers and spacing. A match
on the URL followed by ``?`` and the received raw query string is accepted too, and every
configured key is tried (rotation). The comparison is constant-time over all candidates and
case-insensitive. Only when the raw body does not match is the body parsed and re-serialised as
Node.js's ``JSON.stringify`` would (``jsstringify``) and checked once more, for a body that was
re-formatted on its way.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from typing import Final

from services.ingress.jsstringify import js_stringify
from shared.jsonwire import loads_exact

HEADER: Final = "hype-hash"
_HEX_DIGITS: Final = frozenset("0123456789abcdef")


def sign(key: bytes, url: str, body: bytes) -> str:
    """The lower-case hex ``Hype-Hash`` of ``body`` sent to ``url`` under ``key``."""
    return hmac.new(key, url.encode("utf-8") + body, hashlib.sha256).hexdigest()


class SignatureVerifier:
    """Checks ``Hype-Hash`` against every configured key and both URL forms."""

    def __init__(self, keys: Iterable[bytes], public_base_url: str) -> None:
        self._keys = tuple(key for key in keys if key)
        self._base = public_base_url.rstrip("/")

    def url(self, path: str) -> str:
        return self._base + path

    def verify(self, header: str | None, *, path: str, raw_query: bytes, body: bytes) -> bool:
        if header is None or not self._keys:
            return False
        presented = header.strip().lower()
        if len(presented) != 64 or not set(presented) <= _HEX_DIGITS:
            return False
        wanted = presented.encode("ascii")
        if self._matches(wanted, path, raw_query, body):
            return True
        stringified = _stringified(body)
        return stringified is not None and self._matches(wanted, path, raw_query, stringified)

    def _matches(self, wanted: bytes, path: str, raw_query: bytes, body: bytes) -> bool:
        url = self.url(path).encode("utf-8")
        messages = [url + body]
        if raw_query:
            messages.append(url + b"?" + raw_query + body)
        matched = False
        for key in self._keys:
            for message in messages:
                digest = hmac.new(key, message, hashlib.sha256).hexdigest().encode("ascii")
                matched |= hmac.compare_digest(digest, wanted)
        return matched


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
