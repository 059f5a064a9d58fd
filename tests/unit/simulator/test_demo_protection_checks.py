"""The demo's player-protection checks against the simulator's truth."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from services.demo.checks import protection_mismatches, refusals
from services.simulator.truth import problem_slug


def tx(tx_type: str, tx_id: str, amount: str, status: int = 200, **extra: Any) -> dict[str, Any]:
    return {
        "transactionId": tx_id,
        "transactionType": tx_type,
        "amount": amount,
        "userId": "u1",
        "requestedAt": "2026-05-04T12:00:00Z",
        "operatorStatus": status,
        "operatorProblem": None if status == 200 else "limit-exceeded",
        **extra,
    }


def test_a_player_within_the_loss_limit_is_no_mismatch() -> None:
    truth = {"transactions": [tx("BET", "b1", "8.00"), tx("WIN", "w1", "3.00"),
                              tx("BET", "b2", "5.00"), tx("BET", "b3", "1.00", 403)]}  # fmt: skip

    assert protection_mismatches(truth, {"u1": Decimal("10.00")}, []) == []


def test_a_net_loss_above_the_limit_is_a_mismatch() -> None:
    truth = {"transactions": [tx("BET", "b1", "8.00"), tx("BET", "b2", "5.00")]}

    (mismatch,) = protection_mismatches(truth, {"u1": Decimal("10.00")}, [])

    assert (mismatch.area, mismatch.subject) == ("protection", "u1")


def test_an_accepted_bet_of_an_excluded_player_is_a_mismatch() -> None:
    truth = {"transactions": [tx("BET", "b1", "1.00")]}

    assert [m.detail for m in protection_mismatches(truth, {}, ["u1"])] == ["bet b1 accepted"]


def test_refusals_are_counted_by_problem_type() -> None:
    truth = {"transactions": [tx("BET", "b1", "1.00", 403), tx("BET", "b2", "1.00"),
                              tx("BET", "b3", "1.00", 403)]}  # fmt: skip

    assert refusals(truth) == {"limit-exceeded": 2}


def test_the_truth_names_the_problem_the_operator_refused_with() -> None:
    body = '{"type":"https://hypeledger.dev/problems/player-self-excluded","status":403}'

    assert (problem_slug(403, body), problem_slug(200, "{}"), problem_slug(None, "")) == (
        "player-self-excluded",
        None,
        None,
    )
