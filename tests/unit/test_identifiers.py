"""One set of identifier rules: what each kind of id may hold, and what is refused and why."""

from __future__ import annotations

import re

import pytest

from shared import identifiers
from shared.identifiers import InvalidIdentifier

GOOD_USER_IDS = ["26", "player-1", "user@example.com", "Jos\u00e9", "\u738b\u5c0f\u660e", "a b"]


@pytest.mark.parametrize("value", GOOD_USER_IDS)
def test_a_user_id_that_keeps_the_rules_is_returned_unchanged(value: str) -> None:
    assert identifiers.user_id(value) == value


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("", "1 to 200"),
        ("x" * 201, "1 to 200"),
        ("x/y", "'/'"),
        (".", "'.' or '..'"),
        ("..", "'.' or '..'"),
        ("e\u0301", "NFC"),
        ("a\u202eb", "U+202E"),
        ("a\u2066b", "U+2066"),
        ("a\u200bb", "U+200B"),
        ("a\x00b", "U+0000"),
        ("a\nb", "U+000A"),
        ("a\x85b", "U+0085"),
        ("a\u00a0b", "U+00A0"),
        ("a\u2028b", "U+2028"),
        ("\ud800", "U+D800"),
        (" a", "space"),
        ("a ", "space"),
        (26, "string"),
        (None, "string"),
    ],
)
def test_a_user_id_breaking_a_rule_is_refused_naming_the_field(value: object, reason: str) -> None:
    with pytest.raises(InvalidIdentifier, match=re.escape(reason)) as refused:
        identifiers.user_id(value)

    assert refused.value.field == "user_id"


def test_an_idempotency_key_may_hold_a_slash_but_not_a_control_character() -> None:
    assert identifiers.idempotency_key("order/123") == "order/123"
    with pytest.raises(InvalidIdentifier, match=re.escape("U+0009")):
        identifiers.idempotency_key("order\t123")


def test_an_idempotency_key_is_at_most_200_characters() -> None:
    with pytest.raises(InvalidIdentifier, match="1 to 200"):
        identifiers.idempotency_key("k" * 201)


def test_a_provider_id_names_its_own_field() -> None:
    with pytest.raises(InvalidIdentifier) as refused:
        identifiers.provider_id("r\u202e1", "round_id")

    assert refused.value.field == "round_id"


@pytest.mark.parametrize(("value", "code"), [("eur", "EUR"), ("USDT", "USDT"), ("BRL", "BRL")])
def test_a_currency_is_upper_cased(value: str, code: str) -> None:
    assert identifiers.currency(value) == code


@pytest.mark.parametrize("value", ["EU", "EURO12345", " EUR", "EU R", "\uff25UR", "E/R", 978])
def test_a_currency_outside_3_to_8_ascii_letters_or_digits_is_refused(value: object) -> None:
    with pytest.raises(InvalidIdentifier, match="3 to 8 ASCII"):
        identifiers.currency(value)
