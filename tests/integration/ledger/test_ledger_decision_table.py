"""The wiring of the decision table: real envelopes through the broker, the ledger and Postgres.

Every row of the table is decided with plain values in the pure tests:
``tests/unit/ledger/test_ledger_decide_webhooks.py`` (bets, wins, loses, rollbacks, balance reads,
idempotency), ``tests/unit/ledger/test_ledger_decide_operator.py`` (operator commands) and
``tests/unit/ledger/test_ledger_decide_protection.py`` (limits and exclusions). This file proves
only that those decisions reach the wire and the database: one test per kind of command, one per
way a decision is stored (applied with money, refused and stored, replayed byte for byte, a
mismatch that is not stored, an undecodable record dead-lettered), and the rows whose state only
the database carries from one command to the next (each says why). Every test also creates and
funds its player through the broker (``Ledger.player``), so account creation and deposits are
wired too. Players and transaction ids are unique per test.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from ledger_harness import Ledger, operator, unique, webhook
from structlog.testing import capture_logs

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
    received = datetime.now(UTC)
    first = await ledger.send(webhook(BET, user, tx, "10.00", received_at=received))
    await ledger.send(webhook(BET, user, unique("b"), "5.00"))

    # Received an hour later: operator_tx_id carries the time of the first, stored decision.
    later = received + timedelta(hours=1)
    again = await ledger.send(webhook(BET, user, tx, "10.00", received_at=later))

    assert (again.status, again.body) == (first.status, first.body)
    assert again.raw.replayed
    assert await ledger.balance(user) == 85_00
    stored = await ledger.decision("bet", tx)
    assert stored is not None
    assert again.json["operator_tx_id"] == str(stored["operator_tx_id"])
    assert uuid.UUID(again.json["operator_tx_id"]).version == 7


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
    assert mismatch.json["instance"] == f"urn:hypeledger:decision:{first.json['operator_tx_id']}"


async def test_stores_a_rejection_as_the_final_decision_for_its_key(ledger: Ledger) -> None:
    user = await ledger.player("5.00")
    tx = unique("b")
    first = await ledger.send(webhook(BET, user, tx, "10.00"))
    await ledger.send(operator(OperatorKind.DEPOSIT, user, unique("dep"), "100.00"))

    again = await ledger.send(webhook(BET, user, tx, "10.00"))

    assert (first.status, again.body) == (403, first.body)
    assert await ledger.balance(user) == 105_00


async def test_logs_a_refusal_with_the_partition_and_offset_it_was_read_from(
    ledger: Ledger,
) -> None:
    user = await ledger.player("5.00")
    tx = unique("b")

    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        await ledger.send(webhook(BET, user, tx, "10.00"))

    (line,) = [entry for entry in logs if entry["event"] == "ledger.bet.rejected"]
    stored = await ledger.decision("bet", tx)
    assert stored is not None
    assert (line["user_id"], line["partition"], line["offset"]) == (
        user,
        stored["source_partition"],
        stored["source_offset"],
    )
    assert line["correlation_id"]


# -- bet --------------------------------------------------------------------------------------


# Needs the database: the tombstone one command writes is what a later batch loads.
async def test_refuses_a_bet_after_its_rollback(ledger: Ledger) -> None:
    user = await ledger.player("100.00")
    bet_tx = unique("b")
    await ledger.send(webhook(ROLLBACK, user, unique("rb"), None, linked_tx_id=bet_tx))

    reply = await ledger.send(webhook(BET, user, bet_tx))

    assert (reply.status, reply.slug) == (410, "transaction-rolled-back")
    assert await ledger.bet_state(bet_tx) is None
    assert await ledger.balance(user) == 100_00


# Needs the database: the grant's remaining units are a row the store decrements.
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


async def test_credits_a_linked_win_and_marks_the_bet_won(ledger: Ledger) -> None:
    user = await ledger.player("100.00")
    bet_tx = unique("b")
    await ledger.send(webhook(BET, user, bet_tx, "10.00"))

    reply = await ledger.send(webhook(WIN, user, unique("w"), "25.50", linked_tx_id=bet_tx))

    assert (reply.json["old_balance"], reply.json["new_balance"]) == ("90.00", "115.50")
    assert await ledger.bet_state(bet_tx) == "won"


# Needs the database: an unlinked win finds its bets by round, a load only the store does.
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


async def test_refunds_the_stake_not_a_differing_rollback_amount_and_flags_it(
    ledger: Ledger,
) -> None:
    user = await ledger.player("100.00")
    bet_tx = unique("b")
    await ledger.send(webhook(BET, user, bet_tx, "10.00"))
    rb_tx = unique("rb")

    reply = await ledger.send(webhook(ROLLBACK, user, rb_tx, "99.00", linked_tx_id=bet_tx))

    assert reply.json["new_balance"] == "100.00"
    assert await ledger.balance(user) == 100_00
    assert await ledger.bet_state(bet_tx) == "rolled_back"
    stored = await ledger.decision("rollback", rb_tx)
    assert stored is not None
    assert stored["flags"] == ["rollback_amount_differs"]


# Needs the database: the refund of a free bet writes the grant's row back up by one.
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


# -- poison -----------------------------------------------------------------------------------


async def test_dead_letters_an_undecodable_command_with_its_reason(ledger: Ledger) -> None:
    key = unique("p")

    with capture_logs() as logs:
        reply = await ledger.send_raw(key, b"not json at all")

    assert (reply.status, reply.slug) == (500, "unprocessable-command")
    (logged,) = [entry for entry in logs if entry["event"] == "ledger.command.dead_lettered"]
    assert "not a wallet command" in logged["reason"]
    dead = await dead_letters(ledger, key)
    assert dead.value == b"not json at all"
    assert b"not a wallet command" in dict(dead.headers)[HEADER_DLQ_REASON]


# -- operator commands ------------------------------------------------------------------------


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
