"""Player protection's rows of the decision table, decided with plain values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from ledger_values import (
    NOW,
    TOKEN,
    USER,
    bet,
    body,
    events_of,
    lose,
    movement_of,
    one_of,
    operator,
    rollback,
    run,
    slug,
    state_with,
    stored_bet,
    win,
)

from services.ledger.decide import decide
from services.ledger.model import Outcome, Policy, ProtectionRecord, Session
from services.ledger.protection import Exclusion, Limit, Totals
from services.ledger.state import BatchState
from shared.contracts.commands import Mode, OperatorKind
from shared.contracts.problems import PROBLEM_STATUS
from shared.contracts.protection import ExclusionKind, LimitKind, LimitPeriod, period_start
from shared.jsonwire import loads_exact

DAY, WEEK, MONTH, BET = LimitPeriod.DAY, LimitPeriod.WEEK, LimitPeriod.MONTH, LimitPeriod.BET
LOSS, WAGER, DEPOSIT, MAX_BET = (
    LimitKind.LOSS,
    LimitKind.WAGER,
    LimitKind.DEPOSIT,
    LimitKind.MAX_BET,
)
WHO = {"requested_by": "support-7", "reason": "player asked"}


def state_with_long_session() -> BatchState:
    """A player whose session lasts a month (these tests move the clock by days)."""
    state = state_with()
    state.sessions[TOKEN] = Session(TOKEN, USER, "USD", NOW + timedelta(days=31))
    return state


def with_limit(state: BatchState, kind: LimitKind, period: LimitPeriod, amount: int) -> BatchState:
    state.limits.setdefault((USER, "USD"), {})[(kind, period)] = Limit(kind, period, amount)
    return state


def excluded(state: BatchState, until: datetime | None = None) -> BatchState:
    state.exclusions[(USER, "USD")] = Exclusion(
        ExclusionKind.SELF_EXCLUSION, NOW - timedelta(days=1), until
    )
    return state


def protection_events(decision: Any) -> list[dict[str, Any]]:
    events = [loads_exact(event.payload) for event in events_of(decision)]
    return [event for event in events if event["event_type"] == "wallet.protection"]


def set_limit(key: str, kind: LimitKind, period: LimitPeriod, amount: str, **fields: Any) -> Any:
    return operator(
        OperatorKind.SET_LIMIT, key, amount, limit=kind, period=period, **{**WHO, **fields}
    )


def remove_limit(key: str, kind: LimitKind, period: LimitPeriod, **fields: Any) -> Any:
    return operator(OperatorKind.REMOVE_LIMIT, key, limit=kind, period=period, **{**WHO, **fields})


# -- the problem table -------------------------------------------------------------------------


def test_the_problem_table_refuses_limits_and_exclusions_with_403() -> None:
    assert (PROBLEM_STATUS["limit-exceeded"][0], PROBLEM_STATUS["player-self-excluded"][0]) == (
        403,
        403,
    )


# -- exclusion ---------------------------------------------------------------------------------


def test_refuses_a_bet_of_a_self_excluded_player_and_moves_nothing() -> None:
    state = excluded(state_with())

    decision = run(state, bet("b1", "1.00"))

    assert (decision.status, slug(decision), decision.outcome) == (
        403,
        "player-self-excluded",
        Outcome.REJECTED,
    )
    assert body(decision)["exclusion"] == "self_exclusion"
    assert movement_of(decision) is None
    assert state.accounts[(USER, "USD")].balance == 100_00
    assert [e["kind"] for e in protection_events(decision)] == ["refused"]


def test_accepts_a_bet_once_a_time_out_has_ended() -> None:
    state = excluded(state_with(), until=NOW)

    decision = run(state, bet("b1", "1.00"))

    assert decision.status == 200


def test_refuses_a_deposit_of_a_self_excluded_player() -> None:
    state = excluded(state_with())

    decision = run(state, operator(OperatorKind.DEPOSIT, "d1", "10.00"))

    assert (decision.status, slug(decision)) == (403, "player-self-excluded")
    assert state.accounts[(USER, "USD")].balance == 100_00


def test_pays_a_win_lose_rollback_and_withdrawal_of_an_excluded_player() -> None:
    state = excluded(state_with())
    stored_bet(state, "b1", round_id="r1")
    stored_bet(state, "b2", round_id="r2")
    stored_bet(state, "b3", round_id="r3")

    answers = [
        run(state, win("w1", "30.00", linked_tx_id="b1", round_id="r1")).status,
        run(state, lose("l1", round_id="r2")).status,
        run(state, rollback("rb1", linked_tx_id="b3", round_id="r3")).status,
        run(state, operator(OperatorKind.WITHDRAW, "wd1", "5.00")).status,
    ]

    assert answers == [200, 200, 200, 200]
    assert state.accounts[(USER, "USD")].balance == 100_00 + 30_00 + 10_00 - 5_00


# -- limits on bets -----------------------------------------------------------------------------


def test_refuses_a_stake_above_max_bet() -> None:
    state = with_limit(state_with(), MAX_BET, BET, 5_00)

    decision = run(state, bet("b1", "5.01"))

    assert (decision.status, slug(decision)) == (403, "limit-exceeded")
    assert {k: body(decision)[k] for k in ("limit", "period", "limit_amount", "allowed")} == {
        "limit": "max_bet",
        "period": "bet",
        "limit_amount": "5.00",
        "allowed": "5.00",
    }


def test_accepts_a_stake_equal_to_max_bet() -> None:
    state = with_limit(state_with(), MAX_BET, BET, 5_00)

    assert run(state, bet("b1", "5.00")).status == 200


def test_refuses_a_stake_over_the_daily_wager_limit_naming_what_is_still_allowed() -> None:
    state = with_limit(state_with(), WAGER, DAY, 20_00)
    run(state, bet("b1", "15.00"))
    run(state, win("w1", "15.00", linked_tx_id="b1"))

    decision = run(state, bet("b2", "6.00", round_id="r2"))

    assert (slug(decision), body(decision)["allowed"], body(decision)["period"]) == (
        "limit-exceeded",
        "5.00",
        "day",
    )
    assert state.accounts[(USER, "USD")].balance == 100_00


def test_counts_an_open_stake_as_lost_and_a_win_gives_room_back() -> None:
    state = with_limit(state_with(), LOSS, DAY, 10_00)
    run(state, bet("b1", "10.00"))
    refused = run(state, bet("b2", "0.01", round_id="r2"))
    run(state, win("w1", "4.00", linked_tx_id="b1"))

    accepted = run(state, bet("b3", "4.00", round_id="r3"))

    assert (refused.status, slug(refused), body(refused)["allowed"]) == (
        403,
        "limit-exceeded",
        "0.00",
    )
    assert accepted.status == 200
    assert state.totals[(USER, "USD", DAY)].losses == 10_00


def test_a_refund_gives_the_stake_back_to_the_loss_limit() -> None:
    state = with_limit(state_with(), LOSS, WEEK, 10_00)
    run(state, bet("b1", "10.00"))
    run(state, rollback("rb1", linked_tx_id="b1"))

    decision = run(state, bet("b2", "10.00", round_id="r2"))

    assert decision.status == 200


def test_reports_the_most_restrictive_of_several_broken_limits() -> None:
    state = with_limit(with_limit(state_with(), LOSS, DAY, 50_00), WAGER, MONTH, 30_00)
    run(state, bet("b1", "25.00"))

    decision = run(state, bet("b2", "40.00", round_id="r2"))

    assert (body(decision)["limit"], body(decision)["allowed"]) == ("wager", "5.00")


def test_free_bets_count_toward_no_limit() -> None:
    state = with_limit(state_with(), WAGER, DAY, 1_00)

    decision = run(state, bet("b1", "5.00", mode=Mode.FREE, bonus_code="FB"))

    assert decision.status == 200
    assert (USER, "USD", DAY) not in state.totals


def test_replays_a_limit_refusal_byte_for_byte_after_the_limit_is_raised() -> None:
    state = with_limit(state_with(), MAX_BET, BET, 1_00)
    first = run(state, bet("b1", "2.00"))
    state.limits[(USER, "USD")].clear()

    again = run(state, bet("b1", "2.00"))

    assert (again.outcome, again.body) == (Outcome.REPLAYED, first.body)


# -- deposits -----------------------------------------------------------------------------------


def test_refuses_a_deposit_over_the_deposit_limit() -> None:
    state = with_limit(state_with(), DEPOSIT, MONTH, 100_00)
    run(state, operator(OperatorKind.DEPOSIT, "d1", "60.00"))

    decision = run(state, operator(OperatorKind.DEPOSIT, "d2", "50.00"))

    assert (decision.status, slug(decision), body(decision)["allowed"]) == (
        403,
        "limit-exceeded",
        "40.00",
    )
    assert state.accounts[(USER, "USD")].balance == 160_00


def test_withdrawals_count_toward_no_limit() -> None:
    state = with_limit(state_with(), DEPOSIT, DAY, 1_00)

    decision = run(state, operator(OperatorKind.WITHDRAW, "w1", "50.00"))

    assert decision.status == 200


# -- alerts -------------------------------------------------------------------------------------


def test_announces_80_and_100_percent_once_per_period() -> None:
    state = with_limit(state_with(), LOSS, DAY, 10_00)
    first = run(state, bet("b1", "8.00"))
    second = run(state, bet("b2", "1.00", round_id="r2"))
    third = run(state, bet("b3", "1.00", round_id="r3"))
    run(state, win("w1", "5.00", linked_tx_id="b1"))
    fourth = run(state, bet("b4", "5.00", round_id="r4"))

    crossed = [
        [e["threshold_percent"] for e in protection_events(d)]
        for d in (first, second, third, fourth)
    ]

    assert crossed == [[80], [], [100], []]


def test_announces_the_thresholds_again_in_the_next_period() -> None:
    state = with_limit(state_with_long_session(), WAGER, DAY, 10_00)
    run(state, bet("b1", "10.00"))

    tomorrow = run(state, bet("b2", "9.00", round_id="r2", received_at=NOW + timedelta(days=1)))

    assert [e["threshold_percent"] for e in protection_events(tomorrow)] == [80]


# -- calendar periods ---------------------------------------------------------------------------


def test_a_day_begins_at_midnight_in_the_operators_time_zone() -> None:
    policy = Policy(time_zone="America/Sao_Paulo")  # UTC-3
    state = with_limit(state_with_long_session(), WAGER, DAY, 10_00)
    before_midnight = datetime(2026, 5, 5, 2, 59, tzinfo=UTC)  # 23:59 on the 4th there
    run(state, bet("b1", "10.00", received_at=before_midnight), policy)
    same_day = decide(state, bet("b2", "1.00", received_at=before_midnight), policy)

    next_day = run(
        state, bet("b3", "10.00", received_at=before_midnight + timedelta(minutes=2)), policy
    )

    assert (slug(same_day), next_day.status) == ("limit-exceeded", 200)


def test_a_week_begins_on_monday_and_a_month_on_the_first() -> None:
    zone = "America/Sao_Paulo"
    sunday_night = datetime(2026, 6, 1, 2, 30, tzinfo=UTC)  # Sunday 31 May, 23:30 there

    starts = [
        period_start(sunday_night, WEEK, zone),
        period_start(sunday_night + timedelta(hours=1), WEEK, zone),
        period_start(sunday_night, MONTH, zone),
        period_start(sunday_night + timedelta(hours=1), MONTH, zone),
        period_start(sunday_night, MONTH, "UTC"),
    ]

    assert [s.isoformat() for s in starts] == [
        "2026-05-25",
        "2026-06-01",
        "2026-05-01",
        "2026-06-01",
        "2026-06-01",
    ]


def test_a_stored_total_of_an_earlier_period_counts_as_zero() -> None:
    state = with_limit(state_with(), LOSS, MONTH, 10_00)
    state.totals[(USER, "USD", MONTH)] = Totals(
        MONTH, NOW.date().replace(month=4, day=1), 0, 0, 10_00
    )

    decision = run(state, bet("b1", "10.00"))

    assert decision.status == 200
    assert state.totals[(USER, "USD", MONTH)].start.isoformat() == "2026-05-01"


# -- changes ------------------------------------------------------------------------------------


def test_sets_a_new_limit_at_once_and_records_who_and_why() -> None:
    state = state_with()

    decision = run(state, set_limit("s1", LOSS, DAY, "50.00"))

    assert (body(decision)["limit_amount"], body(decision)["effective_at"]) == (
        "50.00",
        NOW.isoformat(),
    )
    record = one_of(decision, ProtectionRecord)
    assert record is not None
    assert (record.requested_by, record.reason) == ("support-7", "player asked")
    assert [e["kind"] for e in protection_events(decision)] == ["limit_changed"]


def test_lowers_a_limit_at_once() -> None:
    state = with_limit(state_with(), LOSS, DAY, 50_00)

    run(state, set_limit("s1", LOSS, DAY, "20.00"))

    assert state.limits[(USER, "USD")][(LOSS, DAY)].in_force(NOW) == 20_00


def test_raises_a_limit_only_after_the_cooling_off_period() -> None:
    state = with_limit(state_with_long_session(), WAGER, DAY, 10_00)
    policy = Policy(limit_cooling_off=timedelta(hours=24))
    decision = run(state, set_limit("s1", WAGER, DAY, "100.00"), policy)
    later = NOW + timedelta(hours=23, minutes=59)

    refused = run(state, bet("b1", "50.00", received_at=later), policy)
    accepted = run(state, bet("b2", "50.00", received_at=NOW + timedelta(hours=24)), policy)

    assert (body(decision)["limit_amount"], body(decision)["requested"]) == ("10.00", "100.00")
    assert body(decision)["effective_at"] == (NOW + timedelta(hours=24)).isoformat()
    assert (slug(refused), accepted.status) == ("limit-exceeded", 200)


def test_removes_a_limit_only_after_the_cooling_off_period() -> None:
    state = with_limit(state_with_long_session(), MAX_BET, BET, 1_00)
    run(state, remove_limit("r1", MAX_BET, BET))

    refused = run(state, bet("b1", "2.00", received_at=NOW + timedelta(hours=1)))
    accepted = run(state, bet("b2", "2.00", received_at=NOW + timedelta(hours=25)))

    assert (slug(refused), accepted.status) == ("limit-exceeded", 200)


def test_a_lower_limit_cancels_a_pending_raise() -> None:
    state = with_limit(state_with(), LOSS, DAY, 10_00)
    run(state, set_limit("s1", LOSS, DAY, "100.00"))

    run(state, set_limit("s2", LOSS, DAY, "5.00", requested_at=NOW + timedelta(hours=1)))

    assert state.limits[(USER, "USD")][(LOSS, DAY)].in_force(NOW + timedelta(days=2)) == 5_00


def test_refuses_a_limit_change_without_who_or_why() -> None:
    state = state_with()

    decision = run(state, set_limit("s1", LOSS, DAY, "5.00", reason=None))

    assert (decision.status, slug(decision), body(decision)["field"]) == (
        400,
        "invalid-field",
        "reason",
    )


def test_refuses_a_period_that_does_not_fit_the_limit() -> None:
    decision = run(state_with(), set_limit("s1", MAX_BET, DAY, "5.00"))

    assert (slug(decision), body(decision)["field"]) == ("invalid-field", "period")


def test_excludes_at_once_and_never_shortens_an_exclusion() -> None:
    state = state_with()
    until = NOW + timedelta(days=30)
    run(state, operator(OperatorKind.EXCLUDE, "x1", until=until, **WHO))

    shorter = run(
        state, operator(OperatorKind.TIME_OUT, "x2", until=NOW + timedelta(days=1), **WHO)
    )
    refused = run(state, bet("b1", "1.00", received_at=NOW + timedelta(days=2)))

    assert body(shorter)["until"] == until.isoformat()
    assert one_of(shorter, Exclusion) is None  # nothing to store: the exclusion in force stays
    assert slug(refused) == "player-self-excluded"


def test_an_indefinite_exclusion_outlasts_any_date() -> None:
    state = state_with()
    run(state, operator(OperatorKind.EXCLUDE, "x1", **WHO))

    run(state, operator(OperatorKind.EXCLUDE, "x2", until=NOW + timedelta(days=1), **WHO))

    assert state.exclusions[(USER, "USD")].until is None


def test_refuses_a_time_out_without_an_end() -> None:
    decision = run(state_with(), operator(OperatorKind.TIME_OUT, "t1", **WHO))

    assert (slug(decision), body(decision)["field"]) == ("invalid-field", "until")


def test_a_refusal_names_the_limit_or_the_exclusion_for_the_metrics() -> None:
    limited = with_limit(state_with(), LOSS, WEEK, 1_00)
    shut_out = excluded(state_with())

    refusals = [run(limited, bet("b1", "2.00")), run(shut_out, bet("b1", "2.00"))]

    assert [d.refused_by for d in refusals] == ["loss/week", "self_exclusion"]
