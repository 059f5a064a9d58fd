"""Deterministic ids and fingerprints: the same key or command always gives the same value."""

from __future__ import annotations

import uuid

from ledger_values import bet, operator

from services.ledger.decide import fingerprint
from services.ledger.model import EVENT_NAMESPACE, OPERATOR_TX_NAMESPACE, Key, event_id_for
from shared.contracts.commands import Mode, OperatorKind


def test_derives_operator_tx_ids_exactly_as_uuid5_does() -> None:
    key = Key("hypetech", "bet", "559")

    assert key.operator_tx_id() == str(uuid.uuid5(OPERATOR_TX_NAMESPACE, "hypetech\x1fbet\x1f559"))


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
