"""Amounts parsed once, by the ingress: what its normaliser puts on the envelope is what the
decision debits and flags, and envelopes written before the minor units travelled decide the same."""

from __future__ import annotations

import orjson
from ledger_values import (
    NOW,
    TOKEN,
    USER,
    bet,
    body,
    events_of,
    moved,
    movement_of,
    state_with,
)

from services.ingress.normalise import merge_fields, normalise
from services.ledger.decide import decide, fingerprint
from services.ledger.model import Flag, Policy
from shared.contracts.commands import WALLET_COMMAND, WebhookEnvelope, WebhookKind


def from_ingress(amount: str, tx: str = "b1") -> WebhookEnvelope:
    """A V4 bet as the ingress builds it from the raw body."""
    raw = (
        f'{{"user_id":"{USER}","currency":"USD","amount":{amount},"provider":"hypetech",'
        f'"provider_tx_id":"{tx}","round_id":"r1","session_token":"{TOKEN}"}}'
    ).encode()
    fields = merge_fields([], raw)
    return normalise(WebhookKind.BET, fields, received_at=NOW, current_route=True)


def written_before_minor_units(env: WebhookEnvelope) -> WebhookEnvelope:
    """The same envelope as an older ingress wrote it: no ``amount_minor``, no noise flag."""
    values = orjson.loads(env.model_dump_json())
    del values["amount_minor"], values["amount_noise_rounded"]
    command = WALLET_COMMAND.validate_json(orjson.dumps(values))
    assert isinstance(command, WebhookEnvelope)
    return command


def test_carries_the_amount_in_minor_units_and_the_rounding_of_float_noise() -> None:
    env = from_ingress("10.299999999999999")

    assert (env.amount_minor, env.amount_noise_rounded) == (10_30, True)


def test_flags_float_noise_the_ingress_rounded_on_the_decision_and_its_event() -> None:
    decision = decide(state_with(), from_ingress("10.299999999999999"), Policy())

    assert decision.flags == (Flag.AMOUNT_NOISE_ROUNDED,)
    assert orjson.loads(events_of(decision)[0].payload)["flags"] == ["amount_noise_rounded"]
    assert moved(decision) == -10_30


def test_does_not_flag_an_exact_amount() -> None:
    decision = decide(state_with(), from_ingress("10.3"), Policy())

    assert decision.flags == ()
    assert moved(decision) == -10_30


def test_answers_a_rounded_amount_with_the_bytes_of_the_exact_one() -> None:
    rounded = decide(state_with(), from_ingress("10.299999999999999"), Policy())

    exact = decide(state_with(), from_ingress("10.30"), Policy())

    assert (rounded.status, rounded.body) == (exact.status, exact.body)


def test_decides_an_envelope_written_before_the_minor_units_the_same_way() -> None:
    env = from_ingress("10.30")
    old = written_before_minor_units(env)

    new_decision = decide(state_with(), env, Policy())
    old_decision = decide(state_with(), old, Policy())

    assert old.amount_minor is None
    assert (old_decision.status, old_decision.body) == (new_decision.status, new_decision.body)
    assert movement_of(old_decision) == movement_of(new_decision)
    assert old_decision.fingerprint == new_decision.fingerprint


def test_keeps_the_fingerprint_of_a_command_whose_noise_the_ingress_rounded() -> None:
    noisy = from_ingress("10.299999999999999")

    assert fingerprint(noisy) == fingerprint(written_before_minor_units(noisy))
    assert fingerprint(noisy) == fingerprint(from_ingress("10.30"))


def test_parses_the_decimal_when_the_minor_units_are_not_the_same_money() -> None:
    # An ingress with another exponent for USD would have written 10 minor units for 10.00.
    env = bet("b1", "10.00").model_copy(update={"amount_minor": 10})

    decision = decide(state_with(), env, Policy())

    assert moved(decision) == -10_00
    assert body(decision)["new_balance"] == "90.00"
