"""Strategies never bet more than the player has; cash-outs pay stake x target exactly."""

from __future__ import annotations

import random

from services.simulator.players import STRATEGIES, cashes_out, payout_minor, plan_bets


def test_planned_stakes_never_exceed_the_balance() -> None:
    rng = random.Random(5)

    totals = [
        sum(bet.stake_minor for bet in plan_bets(strategy, balance_minor=700, exponent=2, rng=rng))
        for strategy in STRATEGIES
        for _ in range(200)
    ]

    assert max(totals) <= 700


def test_stakes_are_whole_units_of_the_currency() -> None:
    rng = random.Random(6)

    stakes = [
        bet.stake_minor
        for s in STRATEGIES
        for bet in plan_bets(s, balance_minor=10**6, exponent=2, rng=rng)
    ]

    assert stakes
    assert all(stake % 100 == 0 for stake in stakes)


def test_a_two_bet_strategy_places_two_bets() -> None:
    two = next(s for s in STRATEGIES if s.bets_per_round == 2)
    rng = random.Random(8)

    counts = {len(plan_bets(two, balance_minor=10**6, exponent=2, rng=rng)) for _ in range(50)}

    assert 2 in counts


def test_a_payout_is_the_stake_times_the_target_exactly() -> None:
    assert payout_minor(500, 237) == 1185


def test_a_target_equal_to_the_crash_point_cashes_out() -> None:
    assert cashes_out(200, 200)
    assert not cashes_out(201, 200)
