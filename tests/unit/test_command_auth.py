"""Signed commands and replies: what verifies, what is refused and why."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from pydantic import ValidationError

from services.ledger.app import build
from services.ledger.settings import LedgerSettings
from shared.command_auth import (
    COMMAND,
    HEADER_SIGNATURE,
    REPLY,
    Signer,
    Verifier,
    command_headers,
    in_scope,
    reply_headers,
)
from shared.settings import Environment

KEY_A = b"a" * 32
KEY_B = b"b" * 32
SIGNER = Signer("producer-a", KEY_A)
VERIFIER = Verifier({"producer-a": KEY_A, "producer-b": KEY_B})
VALUE = b'{"type":"operator","kind":"deposit","amount":"10.00"}'


def signed(signer: Signer = SIGNER, value: bytes = VALUE) -> list[tuple[str, bytes]]:
    return command_headers(
        signer, key=b"u1", correlation_id=b"c1", reply_to=b"wallet.replies.v1.x", value=value
    )


def refusal(
    headers: list[tuple[str, bytes]], key: bytes = b"u1", value: bytes = VALUE
) -> str | None:
    return VERIFIER.refusal(COMMAND, key=key, headers=headers, value=value)


def test_the_signature_is_the_hmac_of_each_part_after_its_length_in_eight_bytes() -> None:
    # Written out part by part, as the format is defined: records signed before must verify.
    parts = [COMMAND, b"producer-a", b"u1", b"c1", b"wallet.replies.v1.x", VALUE]
    mac = hmac.new(KEY_A, digestmod=hashlib.sha256)
    for part in parts:
        mac.update(len(part).to_bytes(8, "big"))
        mac.update(part)

    assert dict(signed())[HEADER_SIGNATURE] == mac.hexdigest().encode()


def test_a_command_signed_with_an_accepted_key_verifies() -> None:
    assert refusal(signed()) is None


def test_every_accepted_key_verifies_while_keys_rotate() -> None:
    assert refusal(signed(Signer("producer-b", KEY_B))) is None


def test_an_unsigned_command_is_refused() -> None:
    assert refusal([("correlation_id", b"c1"), ("reply_to", b"r")]) == "unsigned"


def test_a_command_signed_with_a_retired_key_id_is_refused() -> None:
    assert refusal(signed(Signer("producer-old", KEY_A))) == "unknown key id"


def test_a_command_signed_with_a_wrong_secret_is_refused() -> None:
    assert refusal(signed(Signer("producer-a", KEY_B))) == "bad signature"


def test_a_changed_value_is_refused() -> None:
    assert refusal(signed(), value=VALUE.replace(b"10.00", b"1000000.00")) == "bad signature"


def test_a_changed_record_key_is_refused() -> None:
    assert refusal(signed(), key=b"another-player") == "bad signature"


def test_a_changed_reply_topic_is_refused() -> None:
    headers = [
        (name, b"wallet.commands.v1" if name == "reply_to" else value) for name, value in signed()
    ]

    assert refusal(headers) == "bad signature"


def test_a_reply_signature_is_not_a_command_signature() -> None:
    headers = reply_headers(SIGNER, correlation_id=b"c1", value=VALUE)

    assert VERIFIER.refusal(REPLY, key=b"", headers=headers, value=VALUE) is None
    assert refusal([*headers, ("reply_to", b"wallet.replies.v1.x")]) == "bad signature"


def test_production_needs_a_signing_key() -> None:
    settings = LedgerSettings(environment=Environment.PRODUCTION)

    with pytest.raises(ValueError, match="HYPELEDGER_COMMAND_KEY_ID and HYPELEDGER_COMMAND_KEY"):
        settings.command_signer()


def test_production_needs_keys_to_verify() -> None:
    settings = LedgerSettings(environment=Environment.PRODUCTION)

    with pytest.raises(ValueError, match="HYPELEDGER_COMMAND_VERIFY_KEYS"):
        settings.command_verifier()


def test_production_refuses_a_short_signing_key() -> None:
    with pytest.raises(ValidationError, match="COMMAND_KEY must be at least 32"):
        LedgerSettings(environment="production", command_key_id="l1", command_key="k" * 31)


def test_a_signing_key_needs_its_id() -> None:
    with pytest.raises(ValidationError, match="HYPELEDGER_COMMAND_KEY_ID must name"):
        LedgerSettings(environment="test", command_key="k" * 32)


def test_verify_keys_come_from_a_json_object_in_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HYPELEDGER_COMMAND_VERIFY_KEYS", '{"ingress-1": "' + "i" * 32 + '"}')

    settings = LedgerSettings(environment="production")

    assert (
        settings.command_verifier().refusal(
            COMMAND, key=b"u1", headers=signed(Signer("ingress-1", b"i" * 32)), value=VALUE
        )
        is None
    )


def test_the_production_ledger_refuses_to_start_without_its_command_keys() -> None:
    with pytest.raises(ValueError, match="HYPELEDGER_COMMAND_VERIFY_KEYS"):
        build(LedgerSettings(environment="production"))


@pytest.mark.parametrize(
    ("scopes", "command_type", "kind", "allowed"),
    [
        ({"webhook"}, "webhook", "bet", True),
        ({"webhook"}, "operator", "deposit", False),
        ({"operator:settle_lost"}, "operator", "settle_lost", True),
        ({"operator:settle_lost"}, "operator", "deposit", False),
        ({"operator"}, "operator", "deposit", True),
        (set(), "operator", "deposit", False),
    ],
)
def test_a_scope_names_a_command_type_or_one_kind(
    scopes: set[str], command_type: str, kind: str, allowed: bool
) -> None:
    assert in_scope(scopes, command_type, kind) is allowed


def test_a_scope_outside_the_command_types_is_refused_at_start() -> None:
    with pytest.raises(ValidationError, match="pattern"):
        LedgerSettings(environment="test", command_key_scopes={"ingress-1": ["admin"]})
