"""Every webhook row of the decision table, decided with plain values (no I/O)."""

from __future__ import annotations

from datetime import timedelta

from ledger_values import (
    NOW,
    TOKEN,
    USER,
    bet,
    body,
    grant,
    lose,
    moved,
    movement_of,
    one_of,
    placed_bet,
    rollback,
    run,
    slug,
    state_with,
    stored_bet,
    webhook,
    win,
)

from services.ledger.decide import decide, fingerprint
from services.ledger.model import (
    OPERATOR_TX_NAMESPACE,
    AccountStatus,
    AccountType,
    BetState,
    Flag,
    Key,
    Outcome,
    Policy,
    Session,
    StoredDecision,
    Tombstone,
    uuid5_text,
)
from shared.contracts.commands import Mode, WebhookKind

#: The id of a transaction whose decision retention deleted.
STORED_TX = "019df2dc-0a7b-7df5-aa26-0d3a06191623"

# -- idempotency ------------------------------------------------------------------------------


def test_replays_the_stored_response_for_the_same_key_and_payload() -> None:
    state = state_with()
    first = run(state, bet())

    again = run(state, bet())

    assert again.outcome is Outcome.REPLAYED
    assert (again.status, again.body) == (first.status, first.body)
    assert moved(again) == 0
    assert movement_of(again) is None


def test_replays_the_stored_response_even_after_the_balance_changed() -> None:
    state = state_with()
    first = run(state, bet("b1"))
    run(state, bet("b2", "5.00"))

    again = run(state, bet("b1"))

    assert again.body == first.body


def test_replays_a_stored_rejection_even_when_it_would_now_succeed() -> None:
    state = state_with(balance=5_00)
    first = run(state, bet("b1", "10.00"))
    state.accounts[(USER, "USD")] = state.accounts[(USER, "USD")].__class__(
        USER, "USD", AccountStatus.ACTIVE, 50_00
    )

    again = run(state, bet("b1", "10.00"))

    assert again.outcome is Outcome.REPLAYED
    assert again.body == first.body
    assert again.status == 403


def test_refuses_the_same_key_with_a_different_amount_as_a_mismatch() -> None:
    state = state_with()
    run(state, bet("b1", "10.00"))

    mismatch = run(state, bet("b1", "11.00"))

    assert mismatch.outcome is Outcome.MISMATCH
    assert (mismatch.status, slug(mismatch)) == (409, "duplicate-transaction-mismatch")
    assert state.accounts[(USER, "USD")].balance == 90_00


def test_refuses_a_key_whose_decision_retention_expired_without_moving_money() -> None:
    state = state_with()
    state.expired[Key("hypetech", "bet", "b1")] = STORED_TX

    expired = run(state, bet("b1", "10.00"))

    assert expired.outcome is Outcome.EXPIRED
    assert (expired.status, slug(expired)) == (409, "decision-expired")
    assert body(expired)["instance"] == f"urn:hypeledger:decision:{STORED_TX}"  # its transaction
    assert (expired.stored, movement_of(expired), placed_bet(expired)) == (False, None, None)
    assert state.accounts[(USER, "USD")].balance == 100_00
    # The same answer every time, whenever the retry was received.
    later = bet("b1", "10.00", received_at=NOW + timedelta(days=3))
    assert run(state, later).body == expired.body


def test_keeps_the_original_decision_after_a_mismatch() -> None:
    state = state_with()
    first = run(state, bet("b1", "10.00"))
    run(state, bet("b1", "11.00", round_id="r2"))

    again = run(state, bet("b1", "10.00"))

    assert again.body == first.body


def test_treats_kinds_as_separate_key_spaces() -> None:
    state = state_with()
    run(state, bet("559"))

    refund = run(state, rollback("559"))

    assert refund.outcome is Outcome.APPLIED
    assert body(refund)["new_balance"] == "100.00"


def test_derives_the_same_operator_tx_id_for_the_same_key() -> None:
    first = decide(state_with(), bet("b1"), Policy())

    second = decide(state_with(), bet("b1"), Policy())

    assert first.operator_tx_id == second.operator_tx_id


def test_answers_a_retry_received_later_with_the_original_operator_tx_id() -> None:
    # The id carries the time of the command that made the decision; a retry is received later
    # (its own time differs) and is answered from the stored decision, so its id is the first.
    state = state_with()
    first = run(state, bet("b1"))

    again = run(state, bet("b1", received_at=NOW + timedelta(hours=1)))
    mismatch = run(state, bet("b1", "11.00", received_at=NOW + timedelta(hours=2)))

    assert again.outcome is Outcome.REPLAYED
    assert again.operator_tx_id == first.operator_tx_id == body(again)["operator_tx_id"]
    assert again.body == first.body
    assert body(mismatch)["instance"] == f"urn:hypeledger:decision:{first.operator_tx_id}"
    fresh = decide(state_with(), bet("b1", received_at=NOW + timedelta(hours=1)), Policy())
    assert fresh.operator_tx_id != first.operator_tx_id  # what it would be if it were first


def test_answers_a_retry_of_a_decision_stored_with_an_old_uuid5_id_with_that_id() -> None:
    # Decisions stored before the ids became time-ordered keep their UUIDv5 ids.
    state = state_with()
    old_id = uuid5_text(OPERATOR_TX_NAMESPACE, "hypetech\x1fbet\x1fb1")
    answer = f'{{"operator_tx_id":"{old_id}"}}'
    state.decisions[Key("hypetech", "bet", "b1")] = StoredDecision(
        fingerprint(bet("b1")), 200, answer, old_id
    )

    again = run(state, bet("b1"))
    mismatch = run(state, bet("b1", "11.00"))

    assert (again.outcome, again.body, again.operator_tx_id) == (Outcome.REPLAYED, answer, old_id)
    assert body(mismatch)["instance"] == f"urn:hypeledger:decision:{old_id}"


# -- bet --------------------------------------------------------------------------------------


def test_refuses_a_bet_on_a_missing_account() -> None:
    decision = run(state_with(account=False), bet())

    assert (decision.status, slug(decision)) == (404, "account-not-found")


def test_refuses_a_bet_in_an_unknown_currency() -> None:
    decision = run(state_with(), bet(currency="XYZ"))

    assert (decision.status, slug(decision)) == (400, "unknown-currency")


def test_refuses_a_bet_of_a_blocked_player() -> None:
    decision = run(state_with(status=AccountStatus.BLOCKED), bet())

    assert (decision.status, slug(decision)) == (403, "player-blocked")
    assert moved(decision) == 0


def test_refuses_a_bet_with_an_unknown_session() -> None:
    decision = run(state_with(session=False), bet())

    assert (decision.status, slug(decision)) == (401, "invalid-session")


def test_refuses_a_bet_with_another_players_session() -> None:
    state = state_with(session=False)
    state.sessions[TOKEN] = Session(TOKEN, "someone-else", "USD", None)

    decision = run(state, bet())

    assert (decision.status, slug(decision)) == (401, "invalid-session")


def test_refuses_a_bet_with_an_expired_session() -> None:
    state = state_with(session=False)
    state.sessions[TOKEN] = Session(TOKEN, USER, "USD", NOW - timedelta(seconds=1))

    decision = run(state, bet())

    assert slug(decision) == "invalid-session"


def test_accepts_a_bet_without_a_session_when_the_check_is_off() -> None:
    decision = run(state_with(session=False), bet(), Policy(session_check=False))

    assert decision.status == 200


def test_refuses_a_bet_of_zero() -> None:
    decision = run(state_with(), bet(amount="0"))

    assert (decision.status, slug(decision)) == (400, "invalid-amount")


def test_refuses_a_bet_finer_than_the_currency_allows() -> None:
    decision = run(state_with(), bet(amount="1.001"))

    assert slug(decision) == "invalid-amount"


def test_rounds_float_noise_on_a_bet_and_flags_it() -> None:
    decision = run(state_with(), bet(amount="10.299999999999999"))

    assert body(decision)["new_balance"] == "89.70"
    assert decision.flags == ("amount_noise_rounded",)


def test_refuses_a_bet_whose_rollback_was_already_recorded() -> None:
    state = state_with()
    run(state, rollback("rb1", linked_tx_id="b1"))

    decision = run(state, bet("b1"))

    assert (decision.status, slug(decision)) == (410, "transaction-rolled-back")
    assert placed_bet(decision) is None
    assert state.accounts[(USER, "USD")].balance == 100_00


def test_records_a_free_bet_without_debiting() -> None:
    decision = run(state_with(), bet(mode=Mode.FREE, bonus_code="FREEBET2024"))

    assert (body(decision)["old_balance"], body(decision)["new_balance"]) == ("100.00", "100.00")
    placed = placed_bet(decision)
    assert placed is not None
    assert placed.bonus_code == "FREEBET2024"
    assert movement_of(decision) is None


def test_consumes_one_free_bet_unit_when_the_player_has_a_grant() -> None:
    state = state_with()
    grant(state, remaining=2)

    run(state, bet(mode=Mode.FREE))

    assert state.grants[1].remaining == 1


def test_refuses_a_free_bet_when_no_unit_is_left() -> None:
    state = state_with()
    grant(state, remaining=0)

    decision = run(state, bet(mode=Mode.FREE))

    assert (decision.status, slug(decision)) == (403, "no-free-bets-left")


def test_refuses_a_free_bet_whose_bonus_code_matches_none_of_the_players_grants() -> None:
    state = state_with()
    grant(state, remaining=1, bonus_code="WELCOME")

    decision = run(state, bet(mode=Mode.FREE, bonus_code="SOMETHING-ELSE"))

    assert (decision.status, slug(decision)) == (403, "no-free-bets-left")
    assert state.grants[1].remaining == 1


def test_refuses_a_bet_above_the_balance_with_the_balance_in_the_body() -> None:
    decision = run(state_with(balance=5_00), bet(amount="10.00"))

    assert (decision.status, slug(decision)) == (403, "insufficient-funds")
    assert body(decision)["balance"] == "5.00"
    assert moved(decision) == 0


def test_answers_insufficient_funds_with_the_configured_status() -> None:
    decision = run(state_with(balance=0), bet(), Policy(insufficient_funds_status=402))

    assert decision.status == 402


def test_debits_a_bet_and_answers_the_seven_fields() -> None:
    decision = run(state_with(), bet(amount="10.00"))

    assert decision.status == 200
    assert list(body(decision)) == [
        "operator_tx_id",
        "new_balance",
        "old_balance",
        "user_id",
        "currency",
        "provider",
        "provider_tx_id",
    ]
    assert (body(decision)["old_balance"], body(decision)["new_balance"]) == ("100.00", "90.00")


def test_posts_a_bet_against_the_provider_clearing_account() -> None:
    decision = run(state_with(), bet(amount="10.00"))

    movement = movement_of(decision)
    assert movement is not None
    legs = {(p.account_type, p.amount) for p in movement.postings}
    assert legs == {(AccountType.PLAYER, -10_00), (AccountType.PROVIDER_CLEARING, 10_00)}


# -- win --------------------------------------------------------------------------------------


def test_refuses_a_win_on_a_missing_account() -> None:
    decision = run(state_with(account=False), win())

    assert slug(decision) == "account-not-found"


def test_refuses_a_negative_win() -> None:
    decision = run(state_with(), win(amount="-1"))

    assert (decision.status, slug(decision)) == (400, "invalid-amount")


def test_accepts_a_win_of_zero_and_settles_the_bet() -> None:
    state = state_with()
    stored_bet(state)

    decision = run(state, win(amount="0", linked_tx_id="b1"))

    assert decision.status == 200
    assert movement_of(decision) is None
    assert state.bets[("hypetech", "b1")].state is BetState.WON


def test_pays_a_win_to_a_blocked_player_with_an_expired_session() -> None:
    state = state_with(status=AccountStatus.BLOCKED, session=False)
    stored_bet(state)

    decision = run(state, win(amount="30.00", linked_tx_id="b1"))

    assert decision.status == 200
    assert moved(decision) == 30_00


def test_refuses_a_win_linked_to_an_unknown_bet() -> None:
    decision = run(state_with(), win(linked_tx_id="nope"))

    assert (decision.status, slug(decision)) == (404, "bet-not-found")


def test_refuses_a_win_linked_to_another_players_bet() -> None:
    state = state_with()
    stored_bet(state)
    state.bets[("hypetech", "b1")] = state.bets[("hypetech", "b1")].__class__(
        "hypetech", "b1", "other", "USD", "r1", 10_00, "default", None, None, BetState.OPEN, "x"
    )

    decision = run(state, win(linked_tx_id="b1"))

    assert slug(decision) == "bet-not-found"


def test_refuses_a_win_without_link_when_the_round_has_no_bet() -> None:
    decision = run(state_with(), win(round_id="r9"))

    assert (decision.status, slug(decision)) == (404, "round-not-found")


def test_accepts_and_flags_a_win_without_round_when_configured() -> None:
    decision = run(state_with(), win(round_id="r9"), Policy(win_without_round="accept_and_flag"))

    assert decision.status == 200
    assert Flag.WIN_WITHOUT_ROUND in decision.flags


def test_refuses_a_win_on_a_rolled_back_bet_and_flags_a_finding() -> None:
    state = state_with()
    stored_bet(state, state_=BetState.ROLLED_BACK)

    decision = run(state, win(linked_tx_id="b1"))

    assert (decision.status, slug(decision)) == (409, "bet-rolled-back")
    assert decision.flags == (Flag.WIN_ON_ROLLED_BACK_BET,)
    assert moved(decision) == 0


def test_refuses_a_win_when_every_bet_of_the_round_was_rolled_back() -> None:
    state = state_with()
    stored_bet(state, "b1", state_=BetState.ROLLED_BACK)
    stored_bet(state, "b2", state_=BetState.ROLLED_BACK)

    decision = run(state, win())

    assert slug(decision) == "bet-rolled-back"


def test_refuses_a_second_win_on_a_won_bet() -> None:
    state = state_with()
    stored_bet(state)
    run(state, win("w1", linked_tx_id="b1"))

    decision = run(state, win("w2", linked_tx_id="b1"))

    assert (decision.status, slug(decision)) == (409, "bet-already-settled")
    assert moved(decision) == 0


def test_credits_a_linked_win_and_marks_the_bet_won() -> None:
    state = state_with()
    stored_bet(state)

    decision = run(state, win(amount="25.00", linked_tx_id="b1"))

    assert (body(decision)["old_balance"], body(decision)["new_balance"]) == ("100.00", "125.00")
    assert state.bets[("hypetech", "b1")].state is BetState.WON


def test_credits_an_unlinked_win_and_marks_every_open_bet_of_the_round_won() -> None:
    state = state_with()
    stored_bet(state, "b1")
    stored_bet(state, "b2")

    decision = run(state, win(amount="40.00"))

    assert moved(decision) == 40_00
    assert {state.bets[("hypetech", b)].state for b in ("b1", "b2")} == {BetState.WON}


def test_posts_a_free_bets_win_against_the_bonus_account() -> None:
    state = state_with()
    stored_bet(state, mode=Mode.FREE, amount=0)

    decision = run(state, win(linked_tx_id="b1"))

    movement = movement_of(decision)
    assert movement is not None
    assert {p.account_type for p in movement.postings} == {
        AccountType.PLAYER,
        AccountType.BONUS,
    }


# -- lose -------------------------------------------------------------------------------------


def test_marks_the_rounds_open_bets_lost_without_moving_money() -> None:
    state = state_with()
    stored_bet(state, "b1")
    stored_bet(state, "b2", state_=BetState.ROLLED_BACK)

    decision = run(state, lose())

    assert (body(decision)["old_balance"], body(decision)["new_balance"]) == ("100.00", "100.00")
    assert movement_of(decision) is None
    assert state.bets[("hypetech", "b1")].state is BetState.LOST
    assert state.bets[("hypetech", "b2")].state is BetState.ROLLED_BACK


# -- rollback ---------------------------------------------------------------------------------


def test_targets_the_linked_tx_id_first() -> None:
    state = state_with()
    stored_bet(state, "b1")

    run(state, rollback("rb1", linked_tx_id="b1", rollback_provider_tx_id="b9"))

    assert state.bets[("hypetech", "b1")].state is BetState.ROLLED_BACK


def test_targets_the_rollback_provider_tx_id_when_no_link_is_given() -> None:
    state = state_with()
    stored_bet(state, "b1")

    run(state, rollback("rb1", rollback_provider_tx_id="b1"))

    assert state.bets[("hypetech", "b1")].state is BetState.ROLLED_BACK


def test_rolls_back_the_rollbacks_own_id_when_nothing_else_is_named() -> None:
    state = state_with(balance=90_00)
    stored_bet(state, "b1", amount=10_00)

    decision = run(state, rollback("b1"))

    assert body(decision)["new_balance"] == "100.00"
    assert state.bets[("hypetech", "b1")].state is BetState.ROLLED_BACK
    assert one_of(decision, Tombstone) is None


def test_stores_a_tombstone_for_a_rollback_of_an_unknown_bet() -> None:
    state = state_with()

    decision = run(state, rollback("rb1", linked_tx_id="b1"))

    assert decision.status == 200
    assert body(decision)["new_balance"] == "100.00"
    tombstone = one_of(decision, Tombstone)
    assert tombstone is not None
    assert tombstone.bet_tx_id == "b1"


def test_answers_the_configured_status_for_a_rollback_of_an_unknown_bet() -> None:
    decision = run(
        state_with(), rollback("rb1", linked_tx_id="b1"), Policy(rollback_unknown_status=404)
    )

    assert (decision.status, slug(decision)) == (404, "bet-not-found")
    assert one_of(decision, Tombstone) is not None


def test_answers_200_without_money_for_a_second_rollback_of_the_same_bet() -> None:
    state = state_with()
    stored_bet(state)
    run(state, rollback("rb1", linked_tx_id="b1"))

    decision = run(state, rollback("rb2", linked_tx_id="b1"))

    assert decision.status == 200
    assert moved(decision) == 0
    assert body(decision)["new_balance"] == "110.00"


def test_refuses_a_rollback_of_a_won_bet_and_flags_a_finding() -> None:
    state = state_with()
    stored_bet(state, state_=BetState.WON)

    decision = run(state, rollback("rb1", linked_tx_id="b1"))

    assert (decision.status, slug(decision)) == (409, "bet-already-settled")
    assert decision.flags == (Flag.ROLLBACK_OF_SETTLED_BET,)
    assert moved(decision) == 0


def test_refuses_a_rollback_in_a_round_settled_by_an_unlinked_win() -> None:
    state = state_with()
    stored_bet(state, "b1")
    run(state, win())
    run(state, bet("b2", round_id="r1"))

    decision = run(state, rollback("rb1", linked_tx_id="b2"))

    assert slug(decision) == "bet-already-settled"


def test_refunds_the_original_stake_of_an_open_bet() -> None:
    state = state_with(balance=90_00)
    stored_bet(state, amount=10_00)

    decision = run(state, rollback("rb1", linked_tx_id="b1"))

    assert body(decision)["new_balance"] == "100.00"
    assert state.bets[("hypetech", "b1")].state is BetState.ROLLED_BACK


def test_refunds_a_lost_bet() -> None:
    state = state_with(balance=90_00)
    stored_bet(state, state_=BetState.LOST)

    decision = run(state, rollback("rb1", linked_tx_id="b1"))

    assert moved(decision) == 10_00


def test_refunds_the_stake_not_a_differing_rollback_amount_and_flags_it() -> None:
    state = state_with(balance=90_00)
    stored_bet(state, amount=10_00)

    decision = run(state, rollback("rb1", amount="99.00", linked_tx_id="b1"))

    assert moved(decision) == 10_00
    assert decision.flags == (Flag.ROLLBACK_AMOUNT_DIFFERS,)


def test_refunds_nothing_for_a_free_bet_but_returns_its_grant_unit() -> None:
    state = state_with()
    grant(state, remaining=1)
    run(state, bet("b1", mode=Mode.FREE))

    decision = run(state, rollback("rb1", linked_tx_id="b1"))

    assert moved(decision) == 0
    assert movement_of(decision) is None
    assert state.grants[1].remaining == 1


# -- balance ----------------------------------------------------------------------------------


def test_answers_a_balance_read_with_the_v4_and_legacy_keys() -> None:
    decision = run(state_with(), webhook(WebhookKind.BALANCE, None, None))

    assert body(decision) == {
        "user_id": USER,
        "currency": "USD",
        "balance": "100.00",
        "hypetech_session_token": TOKEN,
        "old_balance": "100.00",
        "new_balance": "100.00",
    }
    assert decision.outcome is Outcome.READ


def test_refuses_a_balance_read_of_a_missing_account() -> None:
    decision = run(state_with(account=False), webhook(WebhookKind.BALANCE, None, None))

    assert (decision.status, slug(decision)) == (404, "account-not-found")
