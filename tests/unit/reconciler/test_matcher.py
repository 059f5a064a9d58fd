from __future__ import annotations

from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from services.reconciler.matcher import _match_id, _match_rows, match_session
from services.reconciler.rows import LedgerRow, ProviderRow, ProviderStatus
from shared.contracts.bets import BetState
from shared.contracts.commands import WebhookKind
from shared.contracts.reconciliation import RowClass
from tests.unit.reconciler.rows import GRACE, NOW, lrow, prow


def classes(provider: list[ProviderRow], ledger: list[LedgerRow]) -> list[str]:
    result = match_session(provider, ledger, now=NOW, grace=GRACE)
    return sorted(d.row_class.value for d in result.differences)


def test_equal_rows_on_both_sides_are_matched_with_no_difference() -> None:
    result = match_session(
        [prow("1"), prow("2", WebhookKind.WIN, amount="25.50")],
        [lrow("1"), lrow("2", WebhookKind.WIN, amount="25.5")],
        now=NOW,
        grace=GRACE,
    )

    assert result.differences == ()
    assert result.totals == {"matched": 2}


def test_a_success_row_the_ledger_never_applied_is_missing_in_ledger() -> None:
    assert classes([prow("1"), prow("2", WebhookKind.WIN)], [lrow("1")]) == ["missing_in_ledger"]


def test_a_young_success_row_the_ledger_has_not_seen_yet_is_pending() -> None:
    young = prow("1", requested_at=NOW - timedelta(seconds=5))

    result = match_session([young], [], now=NOW, grace=GRACE)

    assert result.differences == ()
    assert result.totals == {"pending": 1}


def test_a_row_hypetech_did_not_apply_and_the_ledger_never_saw_is_matched() -> None:
    assert classes([prow("1", status=ProviderStatus.FAILED)], []) == []


def test_an_old_applied_ledger_row_unknown_at_hypetech_is_missing_at_provider() -> None:
    assert classes([], [lrow("1")]) == ["missing_at_provider"]


def test_a_young_ledger_row_unknown_at_hypetech_is_pending_not_a_difference() -> None:
    result = match_session(
        [], [lrow("1", decided_at=NOW - timedelta(seconds=5))], now=NOW, grace=GRACE
    )

    assert result.differences == ()
    assert result.totals == {"pending": 1}


def test_a_refused_ledger_row_unknown_at_hypetech_is_matched() -> None:
    assert classes([], [lrow("1", accepted=False)]) == []


def test_different_amounts_under_one_id_are_an_amount_mismatch() -> None:
    assert classes(
        [prow("1", WebhookKind.ROLLBACK, amount="10.00")],
        [lrow("1", WebhookKind.ROLLBACK, amount="12")],
    ) == ["amount_mismatch"]


def test_amounts_compare_exactly_whatever_their_scale() -> None:
    assert classes([prow("1", amount="0.10")], [lrow("1", amount="0.1")]) == []


def test_one_id_of_different_kinds_on_each_side_is_a_kind_mismatch() -> None:
    result = match_session(
        [prow("7", WebhookKind.WIN)], [lrow("7", WebhookKind.BET)], now=NOW, grace=GRACE
    )

    assert [(d.row_class, d.kind) for d in result.differences] == [
        (RowClass.KIND_MISMATCH, "win/bet")
    ]


def test_a_bet_and_its_rollback_sharing_one_id_pair_by_kind() -> None:
    provider = [
        prow("5", WebhookKind.BET, status=ProviderStatus.ROLLED_BACK),
        prow("5", WebhookKind.ROLLBACK),
    ]
    ledger = [
        lrow("5", WebhookKind.ROLLBACK, target="5"),
        lrow("5", WebhookKind.BET, state=BetState.ROLLED_BACK),
    ]

    assert classes(provider, ledger) == []


def test_success_there_and_refused_here_is_a_status_mismatch() -> None:
    assert classes([prow("1", WebhookKind.WIN)], [lrow("1", WebhookKind.WIN, accepted=False)]) == [
        "status_mismatch"
    ]


def test_failed_there_and_applied_here_is_a_status_mismatch() -> None:
    assert classes([prow("1", status=ProviderStatus.FAILED)], [lrow("1")]) == ["status_mismatch"]


def test_a_bet_rolled_back_here_but_standing_there_is_a_status_mismatch() -> None:
    assert classes([prow("1")], [lrow("1", state=BetState.ROLLED_BACK)]) == ["status_mismatch"]


def test_a_bet_cancelled_there_and_refused_here_is_matched() -> None:
    provider = [prow("1", status=ProviderStatus.ROLLED_BACK)]

    assert classes(provider, [lrow("1", accepted=False)]) == []


def test_a_bet_whose_rollback_row_names_it_counts_as_rolled_back_there() -> None:
    provider = [prow("1"), prow("9", WebhookKind.ROLLBACK, linked="1")]
    ledger = [lrow("1", state=BetState.ROLLED_BACK), lrow("9", WebhookKind.ROLLBACK, target="1")]

    assert classes(provider, ledger) == []


def test_a_bet_whose_unnamed_rollback_the_ledger_links_counts_as_rolled_back_there() -> None:
    provider = [prow("1"), prow("9", WebhookKind.ROLLBACK)]
    ledger = [lrow("1", state=BetState.ROLLED_BACK), lrow("9", WebhookKind.ROLLBACK, target="1")]

    assert classes(provider, ledger) == []


def test_an_open_bet_of_a_finished_round_nothing_won_is_settled_not_reported() -> None:
    result = match_session(
        [prow("1", finished=True)], [lrow("1", state=BetState.OPEN)], now=NOW, grace=GRACE
    )

    assert result.differences == ()
    assert [s.bet_tx_ids for s in result.settlements] == [("1",)]
    assert result.totals == {"matched": 1}


def test_an_open_bet_hypetech_paid_while_the_ledger_has_that_win_is_reported() -> None:
    provider = [prow("1", finished=True), prow("2", WebhookKind.WIN, finished=True, linked="1")]
    ledger = [lrow("1", state=BetState.OPEN), lrow("2", WebhookKind.WIN)]

    result = match_session(provider, ledger, now=NOW, grace=GRACE)

    assert [(d.row_class, d.subject) for d in result.differences] == [
        (RowClass.OPEN_BET_ON_FINISHED_ROUND, "round:r1:bet:1")
    ]
    assert result.settlements == ()
    assert result.totals == {"matched": 2, "open_bet_on_finished_round": 1}


def test_an_open_bet_of_a_round_still_in_play_is_not_reported() -> None:
    assert classes([prow("1", finished=False)], [lrow("1", state=BetState.OPEN)]) == []


def test_a_young_open_bet_of_a_finished_round_is_not_reported_yet() -> None:
    young = lrow("1", state=BetState.OPEN, decided_at=NOW - timedelta(seconds=1))

    assert classes([prow("1", finished=True)], [young]) == []


def test_a_bet_that_already_differs_is_not_reported_again_at_round_level() -> None:
    provider = [prow("1", amount="5.00", finished=True)]

    assert classes(provider, [lrow("1", state=BetState.OPEN)]) == ["amount_mismatch"]


def test_a_bet_left_open_by_its_missing_win_is_not_reported_again_at_round_level() -> None:
    provider = [prow("1", finished=True), prow("2", WebhookKind.WIN, finished=True, linked="1")]

    assert classes(provider, [lrow("1", state=BetState.OPEN)]) == ["missing_in_ledger"]


def test_each_difference_carries_both_sides_as_evidence() -> None:
    result = match_session(
        [prow("1", WebhookKind.WIN, amount="3.00")],
        [lrow("1", WebhookKind.WIN, amount="4")],
        now=NOW,
        grace=GRACE,
    )

    (diff,) = result.differences
    assert diff.provider_row == {"transactionId": "1", "transactionType": "WIN", "amount": "3.00"}
    assert diff.ledger_row is not None
    assert diff.ledger_row["amount"] == "4"


def test_a_row_listed_twice_counts_once() -> None:
    assert classes([prow("1"), prow("1")], []) == ["missing_in_ledger"]


def test_the_dedupe_key_is_the_same_for_the_same_difference_in_another_run() -> None:
    first = match_session([], [lrow("1")], now=NOW, grace=GRACE)
    second = match_session([], [lrow("1")], now=NOW + timedelta(hours=1), grace=GRACE)

    assert first.differences[0].dedupe_key("s1") == second.differences[0].dedupe_key("s1")


_kinds = st.sampled_from(list(WebhookKind))
_ids = st.sampled_from(["1", "2", "3", "4"])
_provider_rows = st.lists(
    st.builds(
        prow,
        _ids,
        _kinds,
        amount=st.sampled_from(["1.00", "2.00"]),
        status=st.sampled_from(list(ProviderStatus)),
        finished=st.booleans(),
    ),
    max_size=8,
)
_ledger_rows = st.lists(
    st.builds(
        lrow,
        _ids,
        _kinds,
        amount=st.sampled_from(["1", "2", None]),
        accepted=st.booleans(),
        state=st.sampled_from([None, *BetState]),
        decided_at=st.sampled_from([NOW - timedelta(hours=1), NOW]),
    ),
    max_size=8,
    unique_by=lambda row: (row.kind, row.tx_id),
)


@given(_provider_rows, _ledger_rows)
def test_every_row_ends_in_exactly_one_outcome(provider, ledger) -> None:  # type: ignore[no-untyped-def]
    provider = list({(row.tx_id, row.kind): row for row in provider}.values())

    result = match_session(provider, ledger, now=NOW, grace=GRACE)

    provider_ids = sorted(id(o.provider) for o in result.outcomes if o.provider is not None)
    ledger_ids = sorted(id(o.ledger) for o in result.outcomes if o.ledger is not None)
    assert provider_ids == sorted(id(row) for row in provider)
    assert ledger_ids == sorted(id(row) for row in ledger)
    assert sum(result.totals.values()) == len(result.outcomes) + sum(
        1 for d in result.differences if d.row_class is RowClass.OPEN_BET_ON_FINISHED_ROUND
    )


@given(_provider_rows, _ledger_rows)
def test_no_two_differences_of_a_session_share_a_dedupe_key(provider, ledger) -> None:  # type: ignore[no-untyped-def]
    result = match_session(provider, ledger, now=NOW, grace=GRACE)

    assert len({d.dedupe_key("s") for d in result.differences}) == len(result.differences)


@given(_provider_rows, _ledger_rows)
def test_the_one_pair_shortcut_classifies_as_the_general_pairing_does(provider, ledger) -> None:  # type: ignore[no-untyped-def]
    rolled_back = frozenset({"1", "3"})

    for p in provider[:1]:
        for lr in ledger[:1]:
            lr.tx_id = p.tx_id
            lr.kind = p.kind

            shortcut = list(_match_id([p], [lr], rolled_back, NOW - GRACE))
            general = list(_match_rows([p], [lr], rolled_back, NOW - GRACE))

            assert shortcut == general
