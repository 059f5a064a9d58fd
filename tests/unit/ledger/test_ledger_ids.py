"""Deterministic ids and fingerprints: the same key (and time) or command always gives the same
value."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta, timezone

from ledger_values import bet, operator

from services.ledger.decide import fingerprint
from services.ledger.model import (
    EVENT_NAMESPACE,
    OPERATOR_TX_NAMESPACE,
    Key,
    event_id_for,
    uuid5_text,
)
from shared.contracts.commands import Mode, OperatorKind

AT = datetime(2026, 5, 4, 12, 0, 0, 123_999, tzinfo=UTC)
#: Unix milliseconds of ``AT`` (the microseconds are truncated, not rounded).
AT_MILLIS = 1_777_896_000_123


def test_lays_out_operator_tx_ids_as_uuidv7_with_the_time_in_milliseconds_first() -> None:
    text = Key("hypetech", "bet", "559").operator_tx_id(AT)

    parsed = uuid.UUID(text)
    assert str(parsed) == text
    assert (parsed.version, parsed.variant) == (7, uuid.RFC_4122)
    assert parsed.int >> 80 == AT_MILLIS


def test_fills_the_rest_of_the_id_with_the_hash_uuid5_takes_of_the_key() -> None:
    name = "hypetech\x1fbet\x1f559"
    digest = hashlib.sha1(
        OPERATOR_TX_NAMESPACE.bytes + name.encode(), usedforsecurity=False
    ).digest()
    # The 80 bits after the time are the digest's first 80, less the version and variant bits
    # (the SHA-1 of the name the UUIDv5 ids of before hashed: stored decisions keep those).
    hashed = ((1 << 80) - 1) & ~(0xF << 76) & ~(0x3 << 62)

    parsed = uuid.UUID(Key("hypetech", "bet", "559").operator_tx_id(AT))

    assert parsed.int & hashed == int.from_bytes(digest[:10]) & hashed


def test_derives_the_same_operator_tx_id_from_the_same_key_and_time() -> None:
    assert Key("hypetech", "bet", "559").operator_tx_id(AT) == (
        Key("hypetech", "bet", "559").operator_tx_id(AT)
    )
    # A naive time is read as UTC (``command_time``), an offset is honoured.
    assert Key("hypetech", "bet", "559").operator_tx_id(AT.replace(tzinfo=None)) == (
        Key("hypetech", "bet", "559").operator_tx_id(AT.astimezone(timezone(timedelta(hours=3))))
    )


def test_derives_different_ids_for_different_keys_at_the_same_time() -> None:
    keys = [
        Key("hypetech", "bet", "559"),
        Key("hypetech", "win", "559"),
        Key("hypetech", "bet", "560"),
        Key("other", "bet", "559"),
        Key("operator", "deposit", "559"),
    ]

    ids = {key.operator_tx_id(AT) for key in keys}

    assert len(ids) == len(keys)
    assert {text[:13] for text in ids} == {Key("a", "b", "c").operator_tx_id(AT)[:13]}


def test_orders_ids_by_time_both_as_text_and_as_uuids() -> None:
    keys = [Key("hypetech", "bet", f"b{n}") for n in range(200)]
    times = [AT + timedelta(milliseconds=n) for n in range(200)]

    ids = [key.operator_tx_id(at) for key, at in zip(reversed(keys), times, strict=True)]

    assert ids == sorted(ids)
    assert [uuid.UUID(text) for text in ids] == sorted(uuid.UUID(text) for text in ids)
    # Within one millisecond the hash decides, as it did for every id before.
    assert Key("hypetech", "bet", "x").operator_tx_id(AT.replace(microsecond=123_000)) == (
        Key("hypetech", "bet", "x").operator_tx_id(AT)
    )


def test_reads_times_before_1970_as_1970_and_keeps_every_later_year_in_48_bits() -> None:
    early = uuid.UUID(
        Key("hypetech", "bet", "559").operator_tx_id(datetime(1900, 1, 1, tzinfo=UTC))
    )
    late = uuid.UUID(Key("hypetech", "bet", "559").operator_tx_id(datetime.max.replace(tzinfo=UTC)))

    assert (early.int >> 80, early.version) == (0, 7)
    assert (late.int >> 80, late.version) == (253_402_300_799_999, 7)
    assert late.int >> 80 < 1 << 48


def test_derives_uuid5_ids_exactly_as_uuid5_does() -> None:
    # The ids of decisions stored before the time-ordered ids, and every event id.
    name = "hypetech\x1fbet\x1f559"

    assert uuid5_text(OPERATOR_TX_NAMESPACE, name) == str(uuid.uuid5(OPERATOR_TX_NAMESPACE, name))


def test_derives_event_ids_exactly_as_uuid5_does() -> None:
    assert event_id_for("abc") == str(uuid.uuid5(EVENT_NAMESPACE, "abc"))


# Fingerprints are stored with every decision: a redelivery whose fingerprint changed would be
# answered 409 instead of its stored answer. These are the values stored before amounts travelled
# in minor units; they must never change.


def test_keeps_the_stored_fingerprint_of_a_bet() -> None:
    assert fingerprint(bet("b1", "10.50")) == (
        "212d7de99ccc917da934d04c9026060029668ed438cb6fa2c2e5f77fdfd54226"
    )


def test_keeps_the_stored_fingerprint_of_a_free_bet() -> None:
    assert fingerprint(bet("b1", "10.50", mode=Mode.FREE, bonus_code="X")) == (
        "b7028c2349dc2011311c2ed36c53b223caf48255668ce05c26e9d13edf4760d5"
    )


def test_keeps_the_stored_fingerprint_of_a_deposit() -> None:
    assert fingerprint(operator(OperatorKind.DEPOSIT, "k1", "100.00")) == (
        "00dadd218ab723194b69ba97d24d3d6a09818014131451e185330f767d8f693d"
    )
