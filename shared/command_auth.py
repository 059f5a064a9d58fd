"""Signed commands and replies on Kafka: the ledger moves money only for a producer it knows.

Kafka ACLs decide who may write to ``wallet.commands.v1``; this is the second wall, for the day a
credential, an ACL or a network rule is wrong. Every producer of a command (the ingress, the
operator API, the reconciler's corrections) signs each record with its own key, and the ledger
verifies it before deciding; the ledger signs each reply with its key, and the waiting client
verifies that before believing it.

A signature is HMAC-SHA256 over a purpose tag (a command's signature is not a reply's), the key
id, the record key (a command's; a reply is named by its correlation id), the headers that direct
the answer (``correlation_id``, ``reply_to``) and the value, each length-prefixed; it travels in ``hl_signature`` (hex) beside ``hl_key_id``. One HMAC
per record, on each side.

Keys rotate by id: the verifying side lists old and new (``HYPELEDGER_COMMAND_VERIFY_KEYS``), the
signing side moves to the new one (``HYPELEDGER_COMMAND_KEY_ID`` / ``HYPELEDGER_COMMAND_KEY``),
then the old one is removed: from then on it is refused like any unknown key.

Scopes narrow what a key may sign (the ledger's ``HYPELEDGER_COMMAND_KEY_SCOPES``): ``webhook`` or
``operator`` (a command type), or ``operator:<kind>`` (one kind): the operator API's key then
cannot carry a webhook, nor the reconciler's anything but its corrections.

Outside production, a service given no keys uses ``DEVELOPMENT_KEY`` (every development and test
process then agrees without configuration); in production it refuses to start without its own.
"""

from __future__ import annotations

import hmac
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from shared.contracts.topics import HEADER_CONTENT_TYPE, HEADER_CORRELATION_ID, HEADER_REPLY_TO

HEADER_KEY_ID: Final = "hl_key_id"
HEADER_SIGNATURE: Final = "hl_signature"

COMMAND: Final = b"hypeledger.command.v1"
REPLY: Final = b"hypeledger.reply.v1"

DEVELOPMENT_KEY_ID: Final = "development"
DEVELOPMENT_KEY: Final = b"hypeledger-development-command-key (never in production)"


def _digest(
    secret: bytes,
    purpose: bytes,
    *,
    key_id: bytes,
    key: bytes,
    headers: Mapping[str, bytes],
    value: bytes,
) -> str:
    parts = (
        purpose,
        key_id,
        key,
        headers.get(HEADER_CORRELATION_ID, b""),
        headers.get(HEADER_REPLY_TO, b""),
        value,
    )
    # Each part after its length in 8 bytes, hashed in one call (the one-shot ``hmac.digest``
    # costs a fraction of an HMAC object fed part by part).
    message = b"".join(len(part).to_bytes(8, "big") + part for part in parts)
    return hmac.digest(secret, message, "sha256").hex()


@dataclass(frozen=True, slots=True)
class Signer:
    """Signs what one service produces with its own key."""

    key_id: str
    secret: bytes

    def headers(
        self, purpose: bytes, *, key: bytes, headers: Mapping[str, bytes], value: bytes
    ) -> list[tuple[str, bytes]]:
        """The two headers to add to a record carrying ``headers``, ``key`` and ``value``."""
        kid = self.key_id.encode()
        digest = _digest(self.secret, purpose, key_id=kid, key=key, headers=headers, value=value)
        return [(HEADER_KEY_ID, kid), (HEADER_SIGNATURE, digest.encode())]


def command_headers(
    signer: Signer, *, key: bytes, correlation_id: bytes, reply_to: bytes, value: bytes
) -> list[tuple[str, bytes]]:
    """The headers of a command: correlation id, reply topic, the signature."""
    directing = {HEADER_CORRELATION_ID: correlation_id, HEADER_REPLY_TO: reply_to}
    return [*directing.items(), *signer.headers(COMMAND, key=key, headers=directing, value=value)]


def reply_headers(
    signer: Signer, *, correlation_id: bytes | None, value: bytes
) -> list[tuple[str, bytes]]:
    """The headers of a reply to a command: content type, correlation id, the signature."""
    headers = [(HEADER_CONTENT_TYPE, b"application/json")]
    directing = {}
    if correlation_id is not None:
        headers.append((HEADER_CORRELATION_ID, correlation_id))
        directing[HEADER_CORRELATION_ID] = correlation_id
    return headers + signer.headers(REPLY, key=b"", headers=directing, value=value)


class Verifier:
    """Checks records against the keys one service accepts, by key id."""

    def __init__(self, keys: Mapping[str, bytes]) -> None:
        self._keys = {key_id.encode(): secret for key_id, secret in keys.items()}

    def refusal(
        self,
        purpose: bytes,
        *,
        key: bytes | None,
        headers: Sequence[tuple[str, bytes]] | Mapping[str, bytes],
        value: bytes | None,
    ) -> str | None:
        """``None`` when the record is signed by an accepted key; else why it is refused."""
        found = dict(headers)
        key_id = found.get(HEADER_KEY_ID)
        signature = found.get(HEADER_SIGNATURE)
        if key_id is None or signature is None:
            return "unsigned"
        secret = self._keys.get(key_id)
        if secret is None:
            return "unknown key id"
        expected = _digest(
            secret, purpose, key_id=key_id, key=key or b"", headers=found, value=value or b""
        )
        if not hmac.compare_digest(expected.encode(), signature):
            return "bad signature"
        return None


def signer_of(headers: Sequence[tuple[str, bytes]] | Mapping[str, bytes]) -> str:
    """The key id a (verified) record names."""
    return dict(headers).get(HEADER_KEY_ID, b"").decode("utf-8", "replace")


def in_scope(scopes: Collection[str], command_type: str, kind: str) -> bool:
    """True when ``scopes`` let a key sign a ``command_type`` command of ``kind``."""
    return command_type in scopes or f"{command_type}:{kind}" in scopes
