"""Provably fair crash points: the chain links, the formula re-derives, a changed seed fails."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.simulator.fairness import (
    SeedChain,
    crash_point,
    crash_point_x100,
    sha256_hex,
    verify_round,
)

SECRET = "5" * 64


@pytest.fixture(scope="module")
def chain() -> SeedChain:
    return SeedChain.generate(SECRET, 50)


def test_each_seed_hashes_to_the_one_before_it(chain: SeedChain) -> None:
    assert all(sha256_hex(chain.seed(n)) == chain.hashes[n - 1] for n in range(1, chain.length + 1))


def test_the_last_round_is_played_with_the_secret(chain: SeedChain) -> None:
    assert chain.seed(chain.length) == SECRET


def test_the_published_seed_hash_is_the_hash_of_the_round_seed(chain: SeedChain) -> None:
    assert chain.seed_hash(7) == sha256_hex(chain.seed(7))


def test_crash_points_have_two_decimals_and_are_at_least_one(chain: SeedChain) -> None:
    points = [crash_point(chain.seed(n)) for n in range(1, chain.length + 1)]

    assert all(p >= Decimal("1.00") and p.as_tuple().exponent == -2 for p in points)


def test_the_same_seed_always_gives_the_same_crash_point(chain: SeedChain) -> None:
    assert crash_point(chain.seed(3)) == crash_point(chain.seed(3))


def test_a_revealed_seed_verifies_against_its_published_hashes(chain: SeedChain) -> None:
    verdict = verify_round(
        seed=chain.seed(12),
        round_number=12,
        published_seed_hash=chain.seed_hash(12),
        terminal_hash=chain.terminal_hash,
        claimed_crash_point=crash_point(chain.seed(12)),
    )

    assert verdict.ok, verdict.problems


def test_a_changed_seed_fails_verification(chain: SeedChain) -> None:
    seed = chain.seed(12)
    tampered = ("0" if seed[0] != "0" else "1") + seed[1:]

    verdict = verify_round(
        seed=tampered,
        round_number=12,
        published_seed_hash=chain.seed_hash(12),
        terminal_hash=chain.terminal_hash,
        claimed_crash_point=crash_point(seed),
    )

    assert not verdict.ok
    assert len(verdict.problems) >= 2


def test_a_claimed_crash_point_that_the_seed_does_not_give_fails(chain: SeedChain) -> None:
    real = crash_point(chain.seed(4))

    verdict = verify_round(
        seed=chain.seed(4),
        round_number=4,
        published_seed_hash=None,
        terminal_hash=None,
        claimed_crash_point=real + Decimal("0.01"),
    )

    assert not verdict.ok


def test_the_house_edge_shows_in_the_share_of_rounds_that_reach_two() -> None:
    seeds = SeedChain.generate("e" * 64, 20_000)

    reached = sum(crash_point_x100(seeds.seed(n)) >= 200 for n in range(1, 20_001))

    # P(crash >= 2) = 0.99 / 2 = 0.495; 20k draws have a standard deviation of about 0.0035.
    assert 0.475 < reached / 20_000 < 0.515


def test_a_bigger_house_edge_crashes_earlier_on_the_same_seed(chain: SeedChain) -> None:
    seed = chain.seed(9)

    assert crash_point_x100(seed, house_edge_bps=500) <= crash_point_x100(seed, house_edge_bps=100)
