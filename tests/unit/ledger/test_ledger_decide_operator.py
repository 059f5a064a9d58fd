"""The operator's own commands, decided with plain values: same idempotency rules as webhooks."""

from __future__ import annotations

from ledger_values import (
    USER,
    bet,
    body,
    moved,
    movement_of,
    operator,
    run,
    slug,
    state_with,
    stored_bet,
)

from services.ledger.model import AccountStatus, AccountType, BetState, Outcome
from shared.contracts.commands import OperatorKind


def test_creates_an_active_account_with_a_zero_balance() -> None:
    state = state_with(account=False)

    decision = run(state, operator(OperatorKind.CREATE_ACCOUNT, "k1"))

    assert decision.status == 200
    assert state.accounts[(USER, "USD")].status is AccountStatus.ACTIVE
    assert body(decision)["new_balance"] == "0.00"


def test_refuses_to_create_an_account_twice_under_another_key() -> None:
    state = state_with()

    decision = run(state, operator(OperatorKind.CREATE_ACCOUNT, "k2"))

    assert (decision.status, slug(decision)) == (409, "account-exists")


def test_refuses_an_account_in_an_unknown_currency() -> None:
    decision = run(
        state_with(account=False), operator(OperatorKind.CREATE_ACCOUNT, "k1", currency="XYZ")
    )

    assert slug(decision) == "unknown-currency"


def test_blocks_and_unblocks_a_player() -> None:
    state = state_with()

    run(state, operator(OperatorKind.BLOCK, "k1"))
    blocked = state.accounts[(USER, "USD")].status
    run(state, operator(OperatorKind.UNBLOCK, "k2"))

    assert (blocked, state.accounts[(USER, "USD")].status) == (
        AccountStatus.BLOCKED,
        AccountStatus.ACTIVE,
    )


def test_accepts_bets_again_after_an_unblock() -> None:
    state = state_with()
    run(state, operator(OperatorKind.BLOCK, "k1"))
    run(state, operator(OperatorKind.UNBLOCK, "k2"))

    decision = run(state, bet())

    assert decision.status == 200
    assert moved(decision) == -10_00


def test_refuses_to_block_a_missing_account() -> None:
    decision = run(state_with(account=False), operator(OperatorKind.BLOCK, "k1"))

    assert slug(decision) == "account-not-found"


def test_deposits_against_the_operator_cash_account() -> None:
    state = state_with(balance=0)

    decision = run(state, operator(OperatorKind.DEPOSIT, "d1", "50.00"))

    assert body(decision)["new_balance"] == "50.00"
    movement = movement_of(decision)
    assert movement is not None
    assert {(p.account_type, p.amount) for p in movement.postings} == {
        (AccountType.PLAYER, 50_00),
        (AccountType.OPERATOR_CASH, -50_00),
    }


def test_refuses_a_deposit_of_zero() -> None:
    decision = run(state_with(), operator(OperatorKind.DEPOSIT, "d1", "0"))

    assert slug(decision) == "invalid-amount"


def test_withdraws_within_the_balance() -> None:
    state = state_with(balance=50_00)

    run(state, operator(OperatorKind.WITHDRAW, "w1", "20.00"))

    assert state.accounts[(USER, "USD")].balance == 30_00


def test_refuses_a_withdrawal_above_the_balance() -> None:
    decision = run(state_with(balance=10_00), operator(OperatorKind.WITHDRAW, "w1", "20.00"))

    assert (decision.status, slug(decision)) == (403, "insufficient-funds")
    assert body(decision)["balance"] == "10.00"
    assert moved(decision) == 0


def test_replays_a_deposit_under_the_same_idempotency_key_without_money() -> None:
    state = state_with(balance=0)
    first = run(state, operator(OperatorKind.DEPOSIT, "d1", "50.00"))

    again = run(state, operator(OperatorKind.DEPOSIT, "d1", "50.00"))

    assert again.outcome is Outcome.REPLAYED
    assert again.body == first.body
    assert state.accounts[(USER, "USD")].balance == 50_00


def test_refuses_a_deposit_reusing_a_key_with_another_amount() -> None:
    state = state_with(balance=0)
    run(state, operator(OperatorKind.DEPOSIT, "d1", "50.00"))

    decision = run(state, operator(OperatorKind.DEPOSIT, "d1", "60.00"))

    assert (decision.status, slug(decision)) == (409, "duplicate-transaction-mismatch")


def test_settles_a_rounds_open_bets_as_lost() -> None:
    state = state_with()
    stored_bet(state, "b1")

    run(state, operator(OperatorKind.SETTLE_LOST, "s1", round_id="r1"))

    assert state.bets[("hypetech", "b1")].state is BetState.LOST
