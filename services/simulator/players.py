"""Players' betting strategies and how a bet ends: the pure core of the crash game.

Stakes are whole major units, so a payout ``stake x target`` is exact in minor units.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class Strategy:
    name: str
    bets_per_round: int
    """1 or 2 (crash games allow two bets per round)."""
    stake_units: tuple[int, int]
    """Inclusive range of the stake in whole major units."""
    targets_x100: tuple[tuple[int, int], ...]
    """Per bet slot, the inclusive range of the cash-out target times 100."""
    cancel_rate: Decimal
    """Chance that a bet is cancelled during the betting window (a rollback)."""
    sit_out_rate: Decimal = Decimal("0.1")


STRATEGIES: tuple[Strategy, ...] = (
    Strategy("cautious", 1, (1, 5), ((110, 150),), Decimal("0.03")),
    Strategy("steady", 1, (2, 10), ((200, 200),), Decimal("0.03")),
    Strategy("two-bets", 2, (1, 5), ((120, 160), (300, 1000)), Decimal("0.05")),
    Strategy("reckless", 1, (1, 3), ((500, 5000),), Decimal("0.02")),
)


def pick_strategy(rng: random.Random) -> Strategy:
    return rng.choice(STRATEGIES)


@dataclass(frozen=True, slots=True)
class PlannedBet:
    slot: int
    stake_minor: int
    target_x100: int
    cancel: bool


def _chance(rng: random.Random, rate: Decimal) -> bool:
    return rate > 0 and rng.randrange(1_000_000) < int(rate * 1_000_000)


def plan_bets(
    strategy: Strategy, *, balance_minor: int, exponent: int, rng: random.Random
) -> list[PlannedBet]:
    """The bets a player places this round, never more in total than ``balance_minor``."""
    if _chance(rng, strategy.sit_out_rate):
        return []
    unit = 10**exponent
    bets: list[PlannedBet] = []
    left = balance_minor
    for slot in range(strategy.bets_per_round):
        stake = rng.randint(*strategy.stake_units) * unit
        if stake > left:
            break
        low, high = strategy.targets_x100[slot % len(strategy.targets_x100)]
        bets.append(
            PlannedBet(slot + 1, stake, rng.randint(low, high), _chance(rng, strategy.cancel_rate))
        )
        left -= stake
    return bets


def cashes_out(target_x100: int, crash_x100: int) -> bool:
    """A bet whose target is reached before the crash is cashed out (a win)."""
    return target_x100 <= crash_x100


def payout_minor(stake_minor: int, target_x100: int) -> int:
    """``stake x target`` in minor units; exact for whole-unit stakes, otherwise rounded down."""
    return stake_minor * target_x100 // 100
