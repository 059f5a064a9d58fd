"""The demo's checks: the ledger against the simulator's truth, findings against the faults."""

from __future__ import annotations

from typing import Any

from services.demo.checks import (
    balance_mismatches,
    expected_findings,
    finding_mismatches,
    movement_mismatches,
)


def tx(tx_type: str, tx_id: str, amount: str, **extra: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "transactionId": tx_id,
        "transactionType": tx_type,
        "transactionStatus": "SUCCESS",
        "amount": amount,
        "userId": "u1",
        "roundId": "r1",
        "operatorStatus": 200,
        "delivered": True,
        "faults": [],
    }
    row.update(extra)
    return row


def truth(*transactions: dict[str, Any], generation: str = "v4") -> dict[str, Any]:
    records = [
        {"kind": kind, "transactionId": t["transactionId"]}
        for t in transactions
        for kind in t["faults"]
    ]
    return {
        "generation": generation,
        "players": [{"user_id": "u1", "currency": "USD", "expected_operator_balance": "95.00"}],
        "transactions": list(transactions),
        "faults": {"records": records, "counts": {}},
    }


def test_a_ledger_balance_equal_to_the_expected_one_matches() -> None:
    assert balance_mismatches(truth(), {("u1", "USD"): "95.00"}) == []


def test_a_ledger_balance_off_by_a_cent_is_a_mismatch() -> None:
    assert len(balance_mismatches(truth(), {("u1", "USD"): "95.01"})) == 1


def test_a_bet_applied_once_with_its_stake_matches() -> None:
    run = truth(tx("BET", "1", "5.00"), tx("WIN", "2", "10.00", linkedTransactionId="1"))
    rows = [
        {"kind": "bet", "provider_tx_id": "1", "amount": "-5.00"},
        {"kind": "win", "provider_tx_id": "2", "amount": "10.00"},
    ]

    assert movement_mismatches(run, rows) == []


def test_a_bet_applied_twice_is_a_mismatch() -> None:
    run = truth(tx("BET", "1", "5.00"))
    rows = [{"kind": "bet", "provider_tx_id": "1", "amount": "-5.00"}] * 2

    assert [m.detail for m in movement_mismatches(run, rows)] == ["applied twice"]


def test_a_rollback_must_refund_the_original_stake_not_the_amount_sent() -> None:
    run = truth(
        tx("BET", "1", "5.00", transactionStatus="ROLLED_BACK"),
        tx("ROLLBACK", "2", "6.00", linkedTransactionId="1", faults=["wrong_rollback_amount"]),
    )
    rows = [
        {"kind": "bet", "provider_tx_id": "1", "amount": "-5.00"},
        {"kind": "rollback", "provider_tx_id": "2", "amount": "6.00"},
    ]

    assert [m.subject for m in movement_mismatches(run, rows)] == ["rollback 2"]


def test_a_drifted_win_is_expected_as_missing_in_the_ledger() -> None:
    run = truth(
        tx("BET", "1", "5.00"),
        tx(
            "WIN",
            "2",
            "10.00",
            linkedTransactionId="1",
            operatorStatus=None,
            delivered=False,
            faults=["drift"],
        ),
    )

    assert expected_findings(run) == {"missing_in_ledger": {"2"}}


def test_a_lost_bet_without_a_lose_webhook_is_settled_not_expected_as_a_finding() -> None:
    run = truth(tx("BET", "1", "5.00"), generation="v4")

    assert expected_findings(run) == {}


def test_a_finding_nobody_injected_is_a_mismatch() -> None:
    run = truth(tx("BET", "1", "5.00"), tx("WIN", "2", "10.00", linkedTransactionId="1"))
    findings = [{"class": "amount_mismatch", "provider_tx_id": "2"}]

    assert [m.detail for m in finding_mismatches(run, findings)] == ["reported but not injected"]
