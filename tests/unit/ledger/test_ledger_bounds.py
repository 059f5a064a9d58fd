"""Balances and period totals have explicit bounds, enforced by the decision: the database never
overflows first."""

from __future__ import annotations

from ledger_values import (
    NOW,
    USER,
    bet,
    body,
    effects_of,
    events_of,
    movement_of,
    operator,
    rollback,
    run,
    slug,
    state_with,
    stored_bet,
    win,
)

from services.ledger.decide import unprocessable
from services.ledger.model import (
    BALANCE_CEILING,
    MAX_BALANCE_MINOR,
    Account,
    AccountStatus,
    Outcome,
    Policy,
)
from services.ledger.protection import TOTAL_CEILING, Totals
from services.ledger.state import BatchState
from shared.contracts.commands import OperatorKind
from shared.contracts.protection import LimitPeriod, period_start
from shared.currencies import CurrencyTable

USDT = Policy(currencies=CurrencyTable({"USDT": 6}))
BIG = "999999999999.999999"


def test_refuses_a_deposit_that_would_pass_the_balance_bound() -> None:
    state = state_with(account=False)
    state.accounts[(USER, "USDT")] = Account(USER, "USDT", AccountStatus.ACTIVE, 0)

    first = run(state, operator(OperatorKind.DEPOSIT, "d1", BIG, currency="USDT"), USDT)
    second = run(state, operator(OperatorKind.DEPOSIT, "d2", BIG, currency="USDT"), USDT)

    assert first.status == 200
    assert (second.status, slug(second)) == (403, "balance-limit-exceeded")
    assert state.accounts[(USER, "USDT")].balance == 999_999_999_999_999_999
    assert movement_of(second) is None


def test_refuses_a_win_that_would_pass_the_balance_bound() -> None:
    state = state_with(balance=MAX_BALANCE_MINOR - 10_00)
    stored_bet(state, "b1")

    decision = run(state, win("w1", "10.01", linked_tx_id="b1"))

    assert (decision.status, slug(decision)) == (403, "balance-limit-exceeded")
    assert decision.outcome is Outcome.REJECTED
    assert state.accounts[(USER, "USD")].balance == MAX_BALANCE_MINOR - 10_00


def test_accepts_a_win_that_reaches_the_bound_exactly() -> None:
    state = state_with(balance=MAX_BALANCE_MINOR - 10_00)
    stored_bet(state, "b1")

    decision = run(state, win("w1", "10.00", linked_tx_id="b1"))

    assert decision.status == 200
    assert state.accounts[(USER, "USD")].balance == MAX_BALANCE_MINOR


def test_refunds_a_rollback_above_the_bound_up_to_the_ceiling_of_the_column() -> None:
    state = state_with(balance=MAX_BALANCE_MINOR)
    stored_bet(state, "b1", amount=10_00)

    decision = run(state, rollback("rb1", linked_tx_id="b1"))

    assert decision.status == 200
    assert state.accounts[(USER, "USD")].balance == MAX_BALANCE_MINOR + 10_00


def test_refuses_a_rollback_only_past_the_ceiling_of_the_column() -> None:
    state = state_with(balance=BALANCE_CEILING - 5_00)
    stored_bet(state, "b1", amount=10_00)

    decision = run(state, rollback("rb1", linked_tx_id="b1"))

    assert (decision.status, slug(decision)) == (403, "balance-limit-exceeded")


def test_answers_a_command_the_database_refused_alone_with_a_stored_500() -> None:
    command = operator(OperatorKind.DEPOSIT, "d1", "1.00")

    decision = unprocessable(command, "the database refused it: 22P05", Policy())

    assert decision is not None
    assert decision.stored
    assert (decision.status, body(decision)["type"].rsplit("/", 1)[-1]) == (
        500,
        "unprocessable-command",
    )
    assert movement_of(decision) is None
    assert not events_of(decision)


def _month_totals(state: BatchState, **totals: int) -> None:
    """Store this month's totals of the player's USD account (the commands' time is ``NOW``)."""
    start = period_start(NOW, LimitPeriod.MONTH, "UTC")
    state.totals[(USER, "USD", LimitPeriod.MONTH)] = Totals(LimitPeriod.MONTH, start, **totals)


def test_refuses_a_deposit_that_would_take_a_period_total_past_its_ceiling() -> None:
    state = state_with()
    _month_totals(state, deposits=TOTAL_CEILING - 5_00)

    decision = run(state, operator(OperatorKind.DEPOSIT, "d1", "5.01"))

    assert (decision.status, slug(decision)) == (403, "period-total-exceeded")
    assert body(decision)["period"] == "month"
    assert movement_of(decision) is None
    assert effects_of(decision, Totals) == []
    assert state.accounts[(USER, "USD")].balance == 100_00


def test_accepts_a_deposit_that_reaches_the_ceiling_of_a_period_total_exactly() -> None:
    state = state_with()
    _month_totals(state, deposits=TOTAL_CEILING - 5_00)

    decision = run(state, operator(OperatorKind.DEPOSIT, "d1", "5.00"))

    assert decision.status == 200
    assert state.totals[(USER, "USD", LimitPeriod.MONTH)].deposits == TOTAL_CEILING


def test_refuses_a_stake_that_would_take_the_period_wagers_past_their_ceiling() -> None:
    state = state_with()
    _month_totals(state, wagers=TOTAL_CEILING - 9_99)

    decision = run(state, bet("b1", "10.00"))

    assert (decision.status, slug(decision)) == (403, "period-total-exceeded")
    assert movement_of(decision) is None
    assert state.accounts[(USER, "USD")].balance == 100_00


def test_a_win_past_the_floor_of_the_net_loss_is_paid_and_the_loss_kept_at_the_floor() -> None:
    state = state_with()
    stored_bet(state, "b1")
    _month_totals(state, wagers=10_00, losses=-TOTAL_CEILING + 10_00)

    decision = run(state, win("w1", "25.00", linked_tx_id="b1"))

    assert decision.status == 200
    assert state.accounts[(USER, "USD")].balance == 125_00
    assert state.totals[(USER, "USD", LimitPeriod.MONTH)].losses == -TOTAL_CEILING
