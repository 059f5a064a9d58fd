"""Every row of the decision table, through the real broker and the real ledger into Postgres.

Each test publishes real envelopes to the command topic, and checks the reply, the balances and
the stored state. Players and transaction ids are unique per test.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from ledger_harness import Ledger, operator, unique, webhook

from shared.contracts.commands import Mode, OperatorKind, WebhookKind
from shared.contracts.topics import COMMANDS_DLQ, HEADER_DLQ_REASON
from shared.kafka import consumer as kafka_consumer

BET, WIN, LOSE, ROLLBACK, BALANCE = (
    WebhookKind.BET,
    WebhookKind.WIN,
    WebhookKind.LOSE,
    WebhookKind.ROLLBACK,
    WebhookKind.BALANCE,
)


async def dead_letters(ledger: Ledger, key: str) -> Any:
    """The dead-lettered record published with ``key`` (read from the start of the DLQ)."""
    reader = kafka_consumer(ledger.settings, ledger.settings.topic(COMMANDS_DLQ), group_id=None)
    await reader.start()
    try:
        async with asyncio.timeout(20):
            while True:
                for records in (await reader.getmany(timeout_ms=200)).values():
                    for record in records:
                        if record.key == key.encode():
                            return record
    finally:
        await reader.stop()


# -- idempotency ------------------------------------------------------------------------------


async def test_answers_a_redelivered_bet_byte_for_byte_without_moving_money(ledger: Ledger) -> None:
    user = await ledger.player("100.00")
    tx = unique("b")
    first = await ledger.send(webhook(BET, user, tx, "10.00"))
    await ledger.send(webhook(BET, user, unique("b"), "5.00"))

    again = await ledger.send(webhook(BET, user, tx, "10.00"))

    assert (again.status, again.body) == (first.status, first.body)
    assert again.raw.replayed
    assert await ledger.balance(user) == 85_00


async def test_refuses_a_mismatching_duplicate_and_keeps_the_original(ledger: Ledger) -> None:
    user = await ledger.player("100.00")
    tx = unique("b")
    first = await ledger.send(webhook(BET, user, tx, "10.00"))

    mismatch = await ledger.send(webhook(BET, user, tx, "20.00"))

    assert (mismatch.status, mismatch.slug) == (409, "duplicate-transaction-mismatch")
    assert await ledger.balance(user) == 90_00
    stored = await ledger.decision("bet", tx)
    assert stored is not None
    assert stored["body"] == first.body


async def test_stores_a_rejection_as_the_final_decision_for_its_key(ledger: Ledger) -> None:
    user = await ledger.player("5.00")
    tx = unique("b")
    first = await ledger.send(webhook(BET, user, tx, "10.00"))
    await ledger.send(operator(OperatorKind.DEPOSIT, user, unique("dep"), "100.00"))

    again = await ledger.send(webhook(BET, user, tx, "10.00"))

    assert (first.status, again.body) == (403, first.body)
    assert await ledger.balance(user) == 105_00


# -- bet --------------------------------------------------------------------------------------


async def test_refuses_a_bet_on_a_missing_account(ledger: Ledger) -> None:
    reply = await ledger.send(webhook(BET, unique("ghost"), unique("b")))

    assert (reply.status, reply.slug) == (404, "account-not-found")


async def test_refuses_a_bet_of_a_blocked_player(ledger: Ledger) -> None:
    user = await ledger.player("100.00")
    await ledger.send(operator(OperatorKind.BLOCK, user, unique("block")))

    reply = await ledger.send(webhook(BET, user, unique("b")))

    assert (reply.status, reply.slug) == (403, "player-blocked")
    assert await ledger.balance(user) == 100_00


async def test_refuses_a_bet_with_an_unknown_session(ledger: Ledger) -> None:
    user = await ledger.player("100.00")

    reply = await ledger.send(webhook(BET, user, unique("b"), session_token="not-a-session"))

    assert (reply.status, reply.slug) == (401, "invalid-session")


async def test_refuses_a_bet_with_another_players_session(ledger: Ledger) -> None:
    user = await ledger.player("100.00")
    other = await ledger.player("100.00")

    reply = await ledger.send(webhook(BET, user, unique("b"), session_token=f"tok-{other}"))

    assert (reply.status, reply.slug) == (401, "invalid-session")


async def test_refuses_a_bet_with_an_expired_session(ledger: Ledger) -> None:
    user = await ledger.player("100.00")
    await ledger.pool.execute(
        "UPDATE sessions SET expires_at = $2 WHERE token = $1",
        f"tok-{user}",
        datetime.now(UTC) - timedelta(minutes=1),
    )

    reply = await ledger.send(webhook(BET, user, unique("b")))

    assert reply.slug == "invalid-session"


async def test_refuses_a_bet_finer_than_the_currency_allows(ledger: Ledger) -> None:
    user = await ledger.player("100.00")

    reply = await ledger.send(webhook(BET, user, unique("b"), "1.001"))

    assert (reply.status, reply.slug) == (400, "invalid-amount")


async def test_refuses_a_bet_of_zero(ledger: Ledger) -> None:
    user = await ledger.player("100.00")

    reply = await ledger.send(webhook(BET, user, unique("b"), "0"))

    assert (reply.status, reply.slug) == (400, "invalid-amount")


async def test_refuses_a_bet_after_its_rollback(ledger: Ledger) -> None:
    user = await ledger.player("100.00")
    bet_tx = unique("b")
    await ledger.send(webhook(ROLLBACK, user, unique("rb"), None, linked_tx_id=bet_tx))

    reply = await ledger.send(webhook(BET, user, bet_tx))

    assert (reply.status, reply.slug) == (410, "transaction-rolled-back")
    assert await ledger.bet_state(bet_tx) is None
    assert await ledger.balance(user) == 100_00


async def test_records_a_free_bet_without_debiting_and_consumes_a_grant_unit(
    ledger: Ledger,
) -> None:
    user = await ledger.player("100.00")
    grant_id = await ledger.pool.fetchval(
        "INSERT INTO free_bet_grants"
        " (user_id, currency, bonus_code, quantity, remaining, value_minor)"
        " VALUES ($1, 'USD', 'FREEBET2024', 2, 2, 1000) RETURNING grant_id",
        user,
    )
    tx = unique("b")

    reply = await ledger.send(
        webhook(BET, user, tx, "10.00", mode=Mode.FREE, bonus_code="FREEBET2024")
    )

    assert (reply.json["old_balance"], reply.json["new_balance"]) == ("100.00", "100.00")
    assert (
        await ledger.count("SELECT remaining FROM free_bet_grants WHERE grant_id = $1", grant_id)
        == 1
    )
    assert (
        await ledger.count("SELECT count(*) FROM bets WHERE bet_tx_id = $1 AND mode = 'free'", tx)
        == 1
    )


async def test_refuses_a_free_bet_when_no_unit_is_left(ledger: Ledger) -> None:
    user = await ledger.player("100.00")
    await ledger.pool.execute(
        "INSERT INTO free_bet_grants (user_id, currency, quantity, remaining)"
        " VALUES ($1, 'USD', 1, 0)",
        user,
    )

    reply = await ledger.send(webhook(BET, user, unique("b"), "10.00", mode=Mode.FREE))

    assert (reply.status, reply.slug) == (403, "no-free-bets-left")


async def test_refuses_a_bet_above_the_balance_with_the_balance_in_the_body(ledger: Ledger) -> None:
    user = await ledger.player("5.00")

    reply = await ledger.send(webhook(BET, user, unique("b"), "10.00"))

    assert (reply.status, reply.slug) == (403, "insufficient-funds")
    assert reply.json["balance"] == "5.00"
    assert await ledger.balance(user) == 5_00


async def test_debits_a_bet_and_answers_the_seven_field_shape(ledger: Ledger) -> None:
    user = await ledger.player("100.00")
    tx = unique("b")

    reply = await ledger.send(webhook(BET, user, tx, "10.00"))

    assert reply.json == {
        "operator_tx_id": reply.raw.operator_tx_id,
        "new_balance": "90.00",
        "old_balance": "100.00",
        "user_id": user,
        "currency": "USD",
        "provider": "hypetech",
        "provider_tx_id": tx,
    }
    assert await ledger.bet_state(tx) == "open"
    postings = await ledger.pool.fetch(
        "SELECT account_type, amount FROM postings WHERE operator_tx_id = $1::uuid ORDER BY leg",
        reply.raw.operator_tx_id,
    )
    assert [(p["account_type"], p["amount"]) for p in postings] == [
        ("player", -10_00),
        ("provider_clearing", 10_00),
    ]


# -- win --------------------------------------------------------------------------------------


async def test_refuses_a_win_on_a_missing_account(ledger: Ledger) -> None:
    reply = await ledger.send(webhook(WIN, unique("ghost"), unique("w")))

    assert (reply.status, reply.slug) == (404, "account-not-found")


async def test_refuses_a_negative_win(ledger: Ledger) -> None:
    user = await ledger.player("100.00")

    reply = await ledger.send(webhook(WIN, user, unique("w"), "-1.00"))

    assert (reply.status, reply.slug) == (400, "invalid-amount")


async def test_accepts_a_win_of_zero_which_settles_the_round(ledger: Ledger) -> None:
    user = await ledger.player("100.00")
    bet_tx = unique("b")
    await ledger.send(webhook(BET, user, bet_tx, "10.00"))

    reply = await ledger.send(webhook(WIN, user, unique("w"), "0", linked_tx_id=bet_tx))

    assert reply.status == 200
    assert await ledger.bet_state(bet_tx) == "won"
    assert await ledger.balance(user) == 90_00


async def test_pays_a_win_to_a_blocked_player_with_an_expired_session(ledger: Ledger) -> None:
    user = await ledger.player("100.00")
    bet_tx = unique("b")
    await ledger.send(webhook(BET, user, bet_tx, "10.00"))
    await ledger.send(operator(OperatorKind.BLOCK, user, unique("block")))
    await ledger.pool.execute("DELETE FROM sessions WHERE token = $1", f"tok-{user}")

    reply = await ledger.send(webhook(WIN, user, unique("w"), "30.00", linked_tx_id=bet_tx))

    assert reply.status == 200
    assert await ledger.balance(user) == 120_00


async def test_refuses_a_win_linked_to_an_unknown_bet(ledger: Ledger) -> None:
    user = await ledger.player("100.00")

    reply = await ledger.send(webhook(WIN, user, unique("w"), linked_tx_id=unique("nope")))

    assert (reply.status, reply.slug) == (404, "bet-not-found")


async def test_refuses_a_win_without_link_when_the_round_has_no_bet(ledger: Ledger) -> None:
    user = await ledger.player("100.00")

    reply = await ledger.send(webhook(WIN, user, unique("w"), round_id=unique("round")))

    assert (reply.status, reply.slug) == (404, "round-not-found")


async def test_refuses_a_win_on_a_rolled_back_bet_and_flags_it(ledger: Ledger) -> None:
    user = await ledger.player("100.00")
    bet_tx = unique("b")
    await ledger.send(webhook(BET, user, bet_tx, "10.00"))
    await ledger.send(webhook(ROLLBACK, user, unique("rb"), None, linked_tx_id=bet_tx))
    win_tx = unique("w")

    reply = await ledger.send(webhook(WIN, user, win_tx, "50.00", linked_tx_id=bet_tx))

    assert (reply.status, reply.slug) == (409, "bet-rolled-back")
    assert await ledger.balance(user) == 100_00
    stored = await ledger.decision("win", win_tx)
    assert stored is not None
    assert stored["flags"] == ["win_on_rolled_back_bet"]


async def test_refuses_a_second_win_on_a_won_bet(ledger: Ledger) -> None:
    user = await ledger.player("100.00")
    bet_tx = unique("b")
    await ledger.send(webhook(BET, user, bet_tx, "10.00"))
    await ledger.send(webhook(WIN, user, unique("w"), "20.00", linked_tx_id=bet_tx))

    reply = await ledger.send(webhook(WIN, user, unique("w"), "20.00", linked_tx_id=bet_tx))

    assert (reply.status, reply.slug) == (409, "bet-already-settled")
    assert await ledger.balance(user) == 110_00


async def test_credits_a_linked_win_and_marks_the_bet_won(ledger: Ledger) -> None:
    user = await ledger.player("100.00")
    bet_tx = unique("b")
    await ledger.send(webhook(BET, user, bet_tx, "10.00"))

    reply = await ledger.send(webhook(WIN, user, unique("w"), "25.50", linked_tx_id=bet_tx))

    assert (reply.json["old_balance"], reply.json["new_balance"]) == ("90.00", "115.50")
    assert await ledger.bet_state(bet_tx) == "won"


async def test_credits_an_unlinked_win_to_the_rounds_open_bets(ledger: Ledger) -> None:
    user = await ledger.player("100.00")
    round_id = unique("round")
    bets = [unique("b"), unique("b")]
    for tx in bets:
        await ledger.send(webhook(BET, user, tx, "10.00", round_id=round_id))

    reply = await ledger.send(webhook(WIN, user, unique("w"), "40.00", round_id=round_id))

    assert reply.status == 200
    assert [await ledger.bet_state(tx) for tx in bets] == ["won", "won"]
    assert await ledger.balance(user) == 120_00


async def test_refuses_to_roll_back_a_bet_of_a_round_settled_by_an_unlinked_win(
    ledger: Ledger,
) -> None:
    user = await ledger.player("100.00")
    round_id = unique("round")
    bet_tx = unique("b")
    await ledger.send(webhook(BET, user, bet_tx, "10.00", round_id=round_id))
    await ledger.send(webhook(WIN, user, unique("w"), "20.00", round_id=round_id))

    reply = await ledger.send(webhook(ROLLBACK, user, unique("rb"), None, linked_tx_id=bet_tx))

    assert (reply.status, reply.slug) == (409, "bet-already-settled")


# -- lose -------------------------------------------------------------------------------------


async def test_marks_the_rounds_open_bets_lost_without_moving_money(ledger: Ledger) -> None:
    user = await ledger.player("100.00")
    round_id = unique("round")
    bet_tx = unique("b")
    await ledger.send(webhook(BET, user, bet_tx, "10.00", round_id=round_id))

    reply = await ledger.send(webhook(LOSE, user, unique("l"), "0", round_id=round_id))

    assert (reply.json["old_balance"], reply.json["new_balance"]) == ("90.00", "90.00")
    assert await ledger.bet_state(bet_tx) == "lost"
    assert await ledger.balance(user) == 90_00


# -- rollback ---------------------------------------------------------------------------------


async def test_stores_a_tombstone_for_a_rollback_of_an_unknown_bet(ledger: Ledger) -> None:
    user = await ledger.player("100.00")
    target = unique("b")

    reply = await ledger.send(
        webhook(ROLLBACK, user, unique("rb"), None, rollback_provider_tx_id=target)
    )

    assert (reply.status, reply.json["new_balance"]) == (200, "100.00")
    assert (
        await ledger.count("SELECT count(*) FROM rollback_tombstones WHERE bet_tx_id = $1", target)
        == 1
    )


async def test_rolls_back_the_rollbacks_own_id_when_nothing_else_is_named(ledger: Ledger) -> None:
    user = await ledger.player("100.00")
    tx = unique("b")
    await ledger.send(webhook(BET, user, tx, "10.00"))

    reply = await ledger.send(webhook(ROLLBACK, user, tx, None))

    assert reply.json["new_balance"] == "100.00"
    assert await ledger.bet_state(tx) == "rolled_back"


async def test_answers_200_without_money_for_a_second_rollback_of_the_same_bet(
    ledger: Ledger,
) -> None:
    user = await ledger.player("100.00")
    bet_tx = unique("b")
    await ledger.send(webhook(BET, user, bet_tx, "10.00"))
    await ledger.send(webhook(ROLLBACK, user, unique("rb"), None, linked_tx_id=bet_tx))

    reply = await ledger.send(webhook(ROLLBACK, user, unique("rb"), None, linked_tx_id=bet_tx))

    assert (reply.status, reply.json["new_balance"]) == (200, "100.00")
    assert await ledger.balance(user) == 100_00


async def test_refuses_a_rollback_of_a_won_bet_and_flags_it(ledger: Ledger) -> None:
    user = await ledger.player("100.00")
    bet_tx = unique("b")
    await ledger.send(webhook(BET, user, bet_tx, "10.00"))
    await ledger.send(webhook(WIN, user, unique("w"), "30.00", linked_tx_id=bet_tx))
    rb_tx = unique("rb")

    reply = await ledger.send(webhook(ROLLBACK, user, rb_tx, None, linked_tx_id=bet_tx))

    assert (reply.status, reply.slug) == (409, "bet-already-settled")
    assert await ledger.balance(user) == 120_00
    stored = await ledger.decision("rollback", rb_tx)
    assert stored is not None
    assert stored["flags"] == ["rollback_of_settled_bet"]


async def test_refunds_the_original_stake_of_an_open_bet(ledger: Ledger) -> None:
    user = await ledger.player("100.00")
    bet_tx = unique("b")
    await ledger.send(webhook(BET, user, bet_tx, "10.00"))

    reply = await ledger.send(webhook(ROLLBACK, user, unique("rb"), None, linked_tx_id=bet_tx))

    assert (reply.json["old_balance"], reply.json["new_balance"]) == ("90.00", "100.00")
    assert await ledger.bet_state(bet_tx) == "rolled_back"


async def test_refunds_a_lost_bet(ledger: Ledger) -> None:
    user = await ledger.player("100.00")
    round_id = unique("round")
    bet_tx = unique("b")
    await ledger.send(webhook(BET, user, bet_tx, "10.00", round_id=round_id))
    await ledger.send(webhook(LOSE, user, unique("l"), "0", round_id=round_id))

    reply = await ledger.send(webhook(ROLLBACK, user, unique("rb"), None, linked_tx_id=bet_tx))

    assert reply.json["new_balance"] == "100.00"
    assert await ledger.bet_state(bet_tx) == "rolled_back"


async def test_refunds_the_stake_not_a_differing_rollback_amount_and_flags_it(
    ledger: Ledger,
) -> None:
    user = await ledger.player("100.00")
    bet_tx = unique("b")
    await ledger.send(webhook(BET, user, bet_tx, "10.00"))
    rb_tx = unique("rb")

    reply = await ledger.send(webhook(ROLLBACK, user, rb_tx, "99.00", linked_tx_id=bet_tx))

    assert reply.json["new_balance"] == "100.00"
    stored = await ledger.decision("rollback", rb_tx)
    assert stored is not None
    assert stored["flags"] == ["rollback_amount_differs"]


async def test_returns_the_grant_unit_when_a_free_bet_is_rolled_back(ledger: Ledger) -> None:
    user = await ledger.player("100.00")
    grant_id = await ledger.pool.fetchval(
        "INSERT INTO free_bet_grants (user_id, currency, quantity, remaining)"
        " VALUES ($1, 'USD', 1, 1) RETURNING grant_id",
        user,
    )
    bet_tx = unique("b")
    await ledger.send(webhook(BET, user, bet_tx, "10.00", mode=Mode.FREE))

    reply = await ledger.send(webhook(ROLLBACK, user, unique("rb"), None, linked_tx_id=bet_tx))

    assert reply.json["new_balance"] == "100.00"
    assert (
        await ledger.count("SELECT remaining FROM free_bet_grants WHERE grant_id = $1", grant_id)
        == 1
    )


# -- balance ----------------------------------------------------------------------------------


async def test_answers_a_balance_read(ledger: Ledger) -> None:
    user = await ledger.player("42.50")

    reply = await ledger.send(webhook(BALANCE, user, None, None))

    assert reply.json == {
        "user_id": user,
        "currency": "USD",
        "balance": "42.50",
        "hypetech_session_token": f"tok-{user}",
        "old_balance": "42.50",
        "new_balance": "42.50",
    }


async def test_refuses_a_balance_read_of_a_missing_account(ledger: Ledger) -> None:
    reply = await ledger.send(webhook(BALANCE, unique("ghost"), None, None))

    assert (reply.status, reply.slug) == (404, "account-not-found")


# -- poison -----------------------------------------------------------------------------------


async def test_answers_500_to_an_undecodable_command(ledger: Ledger) -> None:
    reply = await ledger.send_raw(unique("p"), b'{"type": "webhook", "kind": "bet"')

    assert (reply.status, reply.slug) == (500, "unprocessable-command")


async def test_dead_letters_an_undecodable_command_with_its_reason(ledger: Ledger) -> None:
    key = unique("p")
    await ledger.send_raw(key, b"not json at all")

    dead = await dead_letters(ledger, key)

    assert dead.value == b"not json at all"
    assert b"not a wallet command" in dict(dead.headers)[HEADER_DLQ_REASON]


# -- operator commands ------------------------------------------------------------------------


async def test_refuses_to_create_an_account_that_exists(ledger: Ledger) -> None:
    user = await ledger.player(None)

    reply = await ledger.send(operator(OperatorKind.CREATE_ACCOUNT, user, unique("create")))

    assert (reply.status, reply.slug) == (409, "account-exists")


async def test_withdraws_within_the_balance_and_refuses_above_it(ledger: Ledger) -> None:
    user = await ledger.player("50.00")

    ok = await ledger.send(operator(OperatorKind.WITHDRAW, user, unique("wd"), "20.00"))
    refused = await ledger.send(operator(OperatorKind.WITHDRAW, user, unique("wd"), "40.00"))

    assert (ok.status, refused.slug) == (200, "insufficient-funds")
    assert await ledger.balance(user) == 30_00


async def test_unblocks_a_player_so_bets_are_accepted_again(ledger: Ledger) -> None:
    user = await ledger.player("50.00")
    await ledger.send(operator(OperatorKind.BLOCK, user, unique("block")))
    await ledger.send(operator(OperatorKind.UNBLOCK, user, unique("unblock")))

    reply = await ledger.send(webhook(BET, user, unique("b"), "10.00"))

    assert reply.status == 200


async def test_settles_a_rounds_open_bets_as_lost_on_the_operators_command(ledger: Ledger) -> None:
    user = await ledger.player("50.00")
    round_id = unique("round")
    bet_tx = unique("b")
    await ledger.send(webhook(BET, user, bet_tx, "10.00", round_id=round_id))

    reply = await ledger.send(
        operator(OperatorKind.SETTLE_LOST, user, unique("settle"), round_id=round_id)
    )

    assert reply.status == 200
    assert await ledger.bet_state(bet_tx) == "lost"
