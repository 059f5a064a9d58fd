"""Which open bets of finished rounds are settled as lost, which wait, which are findings."""

from __future__ import annotations

from datetime import timedelta

from services.reconciler.matcher import match_session
from services.reconciler.rows import LedgerRow, ProviderRow, ProviderStatus
from shared.contracts.bets import BetState
from shared.contracts.commands import WebhookKind
from tests.unit.reconciler.rows import GRACE, NOW, lrow, prow


def settled(provider: list[ProviderRow], ledger: list[LedgerRow]) -> list[tuple[str, ...]]:
    result = match_session(provider, ledger, now=NOW, grace=GRACE)
    return [s.bet_tx_ids for s in result.settlements]


def test_the_open_bets_of_a_round_are_settled_together() -> None:
    provider = [prow("2", finished=True), prow("1", finished=True)]
    ledger = [lrow("2", state=BetState.OPEN), lrow("1", state=BetState.OPEN)]

    assert settled(provider, ledger) == [("1", "2")]


def test_a_lost_bet_beside_a_won_one_is_settled_in_the_newest_generation() -> None:
    provider = [
        prow("1", finished=True),
        prow("2", finished=True),
        prow("3", WebhookKind.WIN, finished=True, linked="1"),
    ]
    ledger = [
        lrow("1", state=BetState.WON),
        lrow("2", state=BetState.OPEN),
        lrow("3", WebhookKind.WIN),
    ]

    assert settled(provider, ledger) == [("2",)]


def test_a_round_still_in_play_is_not_settled() -> None:
    assert settled([prow("1")], [lrow("1", state=BetState.OPEN)]) == []


def test_a_young_bet_holds_its_round_back() -> None:
    provider = [prow("1", finished=True), prow("2", finished=True)]
    ledger = [
        lrow("1", state=BetState.OPEN),
        lrow("2", state=BetState.OPEN, decided_at=NOW - timedelta(seconds=5)),
    ]

    assert settled(provider, ledger) == []


def test_a_win_still_on_its_way_holds_the_bet_back() -> None:
    on_its_way = prow(
        "2", WebhookKind.WIN, finished=True, linked="1", requested_at=NOW - timedelta(seconds=5)
    )
    result = match_session(
        [prow("1", finished=True), on_its_way],
        [lrow("1", state=BetState.OPEN)],
        now=NOW,
        grace=GRACE,
    )

    assert result.settlements == ()
    assert result.differences == ()


def test_an_unnamed_win_of_the_round_missing_here_explains_the_bets_not_settles_them() -> None:
    provider = [prow("1", finished=True), prow("2", WebhookKind.WIN, finished=True)]

    result = match_session(provider, [lrow("1", state=BetState.OPEN)], now=NOW, grace=GRACE)

    assert result.settlements == ()
    assert [d.row_class.value for d in result.differences] == ["missing_in_ledger"]


def test_a_bet_that_differs_is_not_settled_and_holds_its_round() -> None:
    provider = [prow("1", finished=True, amount="5.00"), prow("2", finished=True)]
    ledger = [lrow("1", state=BetState.OPEN), lrow("2", state=BetState.OPEN)]

    result = match_session(provider, ledger, now=NOW, grace=GRACE)

    assert result.settlements == ()
    assert [d.row_class.value for d in result.differences] == ["amount_mismatch"]


def test_a_bet_failed_at_hypetech_is_never_settled() -> None:
    provider = [prow("1", finished=True, status=ProviderStatus.FAILED)]

    assert settled(provider, [lrow("1", state=BetState.OPEN)]) == []


def test_the_same_open_bets_give_the_same_key_and_a_late_bet_a_new_one() -> None:
    first = match_session(
        [prow("1", finished=True)], [lrow("1", state=BetState.OPEN)], now=NOW, grace=GRACE
    )
    again = match_session(
        [prow("1", finished=True)],
        [lrow("1", state=BetState.OPEN)],
        now=NOW + timedelta(hours=1),
        grace=GRACE,
    )
    late = match_session(
        [prow("1", finished=True), prow("2", finished=True)],
        [lrow("1", state=BetState.LOST), lrow("2", state=BetState.OPEN)],
        now=NOW,
        grace=GRACE,
    )

    key = first.settlements[0].idempotency_key
    assert key == again.settlements[0].idempotency_key
    assert key != late.settlements[0].idempotency_key
    assert key.startswith("round-finished:")
    assert len(key) <= 200
