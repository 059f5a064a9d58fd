"""Player protection's rows of the decision table, through the real broker and the real ledger
into Postgres: replies, balances, the stored limits, exclusions, totals and history, and the
events waiting in the outbox.

The ledger has no clock: a command's time is its own (``requested_at``, ``received_at``), so the
cooling-off period is tested by sending commands stamped in the past.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
from ledger_harness import Ledger, operator, unique, webhook

from shared.contracts.commands import OperatorKind, WebhookKind
from shared.contracts.protection import LimitKind, LimitPeriod

BET, WIN, LOSE, ROLLBACK = (
    WebhookKind.BET,
    WebhookKind.WIN,
    WebhookKind.LOSE,
    WebhookKind.ROLLBACK,
)
WHO = {"requested_by": "support-7", "reason": "player asked"}
SCHEMA = json.loads(
    (
        Path(__file__).resolve().parents[3] / "shared/contracts/schemas/protection_event.v1.json"
    ).read_text()
)


def set_limit(user: str, kind: LimitKind, period: LimitPeriod, amount: str, **fields: Any) -> Any:
    return operator(
        OperatorKind.SET_LIMIT,
        user,
        unique("limit"),
        amount,
        limit=kind,
        period=period,
        **{**WHO, **fields},
    )


async def protection_events(ledger: Ledger, user: str) -> list[dict[str, Any]]:
    rows = await ledger.pool.fetch(
        "SELECT payload FROM outbox WHERE message_key = $1 ORDER BY id", user
    )
    events = [json.loads(row["payload"]) for row in rows]
    return [event for event in events if event["event_type"] == "wallet.protection"]


async def test_refuses_bets_and_deposits_of_an_excluded_player_and_still_settles_earlier_bets(
    ledger: Ledger,
) -> None:
    user = await ledger.player("100.00")
    placed = unique("b")
    await ledger.send(webhook(BET, user, placed, "10.00", round_id="r1"))
    excluded = await ledger.send(operator(OperatorKind.EXCLUDE, user, unique("ex"), **WHO))

    bet = await ledger.send(webhook(BET, user, unique("b"), "1.00", round_id="r2"))
    deposit = await ledger.send(operator(OperatorKind.DEPOSIT, user, unique("dep"), "5.00"))
    won = await ledger.send(webhook(WIN, user, unique("w"), "30.00", linked_tx_id=placed))
    lost = await ledger.send(webhook(LOSE, user, unique("l"), None, round_id="r3"))
    withdrawn = await ledger.send(operator(OperatorKind.WITHDRAW, user, unique("wd"), "20.00"))

    assert excluded.status == 200, excluded.body
    assert [(r.status, r.slug) for r in (bet, deposit)] == [(403, "player-self-excluded")] * 2
    assert (won.status, lost.status, withdrawn.status) == (200, 200, 200)
    assert await ledger.balance(user) == 100_00 - 10_00 + 30_00 - 20_00
    stored = await ledger.pool.fetchrow(
        "SELECT kind, until FROM player_exclusions WHERE user_id = $1", user
    )
    assert stored is not None
    assert (stored["kind"], stored["until"]) == ("self_exclusion", None)


async def test_accepts_bets_once_a_time_out_has_ended(ledger: Ledger) -> None:
    user = await ledger.player("100.00")
    now = datetime.now(UTC)
    await ledger.send(
        operator(
            OperatorKind.TIME_OUT,
            user,
            unique("to"),
            until=now - timedelta(minutes=1),
            requested_at=now - timedelta(hours=1),
            **WHO,
        )
    )

    reply = await ledger.send(webhook(BET, user, unique("b"), "1.00"))

    assert reply.status == 200, reply.body


async def test_refuses_a_bet_during_a_time_out(ledger: Ledger) -> None:
    user = await ledger.player("100.00")
    until = datetime.now(UTC) + timedelta(hours=1)
    await ledger.send(operator(OperatorKind.TIME_OUT, user, unique("to"), until=until, **WHO))

    reply = await ledger.send(webhook(BET, user, unique("b"), "1.00"))

    assert (reply.status, reply.slug, reply.json["exclusion"]) == (
        403,
        "player-self-excluded",
        "time_out",
    )


async def test_refuses_a_stake_above_max_bet(ledger: Ledger) -> None:
    user = await ledger.player("100.00")
    await ledger.send(set_limit(user, LimitKind.MAX_BET, LimitPeriod.BET, "5.00"))

    reply = await ledger.send(webhook(BET, user, unique("b"), "5.01"))

    assert (reply.status, reply.slug, reply.json["limit"], reply.json["allowed"]) == (
        403,
        "limit-exceeded",
        "max_bet",
        "5.00",
    )
    assert await ledger.balance(user) == 100_00


async def test_refuses_a_stake_over_the_wager_limit_and_names_what_is_still_allowed(
    ledger: Ledger,
) -> None:
    user = await ledger.player("100.00")
    await ledger.send(set_limit(user, LimitKind.WAGER, LimitPeriod.WEEK, "12.00"))
    await ledger.send(webhook(BET, user, unique("b"), "10.00"))

    reply = await ledger.send(webhook(BET, user, unique("b"), "3.00", round_id="r2"))

    assert (reply.slug, reply.json["period"], reply.json["allowed"]) == (
        "limit-exceeded",
        "week",
        "2.00",
    )
    assert await ledger.balance(user) == 90_00


async def test_refuses_a_stake_over_the_loss_limit_until_a_win_gives_room(ledger: Ledger) -> None:
    user = await ledger.player("100.00")
    await ledger.send(set_limit(user, LimitKind.LOSS, LimitPeriod.DAY, "10.00"))
    first = unique("b")
    await ledger.send(webhook(BET, user, first, "10.00"))
    refused = await ledger.send(webhook(BET, user, unique("b"), "1.00", round_id="r2"))
    await ledger.send(webhook(WIN, user, unique("w"), "4.00", linked_tx_id=first))

    accepted = await ledger.send(webhook(BET, user, unique("b"), "4.00", round_id="r3"))

    assert (refused.status, refused.slug) == (403, "limit-exceeded")
    assert accepted.status == 200, accepted.body
    losses = await ledger.count(
        "SELECT losses FROM limit_totals WHERE user_id = $1 AND period = 'day'", user
    )
    assert losses == 10_00


async def test_refuses_a_deposit_over_the_deposit_limit(ledger: Ledger) -> None:
    user = await ledger.player(None)
    await ledger.send(set_limit(user, LimitKind.DEPOSIT, LimitPeriod.MONTH, "50.00"))
    await ledger.send(operator(OperatorKind.DEPOSIT, user, unique("dep"), "40.00"))

    reply = await ledger.send(operator(OperatorKind.DEPOSIT, user, unique("dep"), "20.00"))

    assert (reply.status, reply.slug, reply.json["allowed"]) == (403, "limit-exceeded", "10.00")
    assert await ledger.balance(user) == 40_00


async def test_replays_a_limit_refusal_byte_for_byte(ledger: Ledger) -> None:
    user = await ledger.player("100.00")
    await ledger.send(set_limit(user, LimitKind.MAX_BET, LimitPeriod.BET, "1.00"))
    tx = unique("b")
    first = await ledger.send(webhook(BET, user, tx, "2.00"))
    await ledger.send(set_limit(user, LimitKind.MAX_BET, LimitPeriod.BET, "0.50"))

    again = await ledger.send(webhook(BET, user, tx, "2.00"))

    assert (again.status, again.body, again.raw.replayed) == (403, first.body, True)


async def test_a_raise_applies_only_after_the_cooling_off_period(ledger: Ledger) -> None:
    """A raise requested 25 h ago is in force; one requested now waits (the default 24 h)."""
    now = datetime.now(UTC)
    user = await ledger.player("100.00")
    other = await ledger.player("100.00")
    for player, raised_at in ((user, now - timedelta(hours=25)), (other, now)):
        start = raised_at - timedelta(minutes=1)
        await ledger.send(
            set_limit(player, LimitKind.MAX_BET, LimitPeriod.BET, "1.00", requested_at=start)
        )
        raised = await ledger.send(
            set_limit(player, LimitKind.MAX_BET, LimitPeriod.BET, "50.00", requested_at=raised_at)
        )
        assert raised.json["effective_at"] == (raised_at + timedelta(hours=24)).isoformat()

    after = await ledger.send(webhook(BET, user, unique("b"), "20.00"))
    during = await ledger.send(webhook(BET, other, unique("b"), "20.00"))

    assert after.status == 200, after.body
    assert (during.status, during.slug, during.json["limit_amount"]) == (
        403,
        "limit-exceeded",
        "1.00",
    )
    pending = await ledger.pool.fetchrow(
        "SELECT amount, pending_amount FROM player_limits WHERE user_id = $1", other
    )
    assert pending is not None
    assert (pending["amount"], pending["pending_amount"]) == (1_00, 50_00)


async def test_an_exclusion_is_never_shortened(ledger: Ledger) -> None:
    user = await ledger.player("100.00")
    until = datetime.now(UTC) + timedelta(days=30)
    await ledger.send(operator(OperatorKind.EXCLUDE, user, unique("ex"), until=until, **WHO))

    shorter = await ledger.send(
        operator(
            OperatorKind.TIME_OUT,
            user,
            unique("to"),
            until=datetime.now(UTC) + timedelta(minutes=5),
            **WHO,
        )
    )

    assert shorter.status == 200
    stored = await ledger.pool.fetchval(
        "SELECT until FROM player_exclusions WHERE user_id = $1", user
    )
    assert stored == until


async def test_keeps_every_change_with_who_and_why_and_publishes_it(ledger: Ledger) -> None:
    user = await ledger.player("100.00")
    await ledger.send(set_limit(user, LimitKind.LOSS, LimitPeriod.DAY, "10.00"))
    await ledger.send(webhook(BET, user, unique("b"), "8.00"))
    await ledger.send(webhook(BET, user, unique("b"), "3.00", round_id="r2"))

    history = await ledger.pool.fetch(
        "SELECT change, limit_kind, period, amount, requested_by, reason"
        " FROM protection_changes WHERE user_id = $1",
        user,
    )
    events = await protection_events(ledger, user)

    assert [tuple(row) for row in history] == [
        ("set_limit", "loss", "day", 10_00, "support-7", "player asked")
    ]
    assert [(e["kind"], e["threshold_percent"]) for e in events] == [
        ("limit_changed", None),
        ("threshold_reached", 80),
        ("refused", None),
    ]
    for event in events:
        jsonschema.validate(event, SCHEMA)


async def test_refuses_a_limit_change_without_a_reason(ledger: Ledger) -> None:
    user = await ledger.player("100.00")

    reply = await ledger.send(
        set_limit(user, LimitKind.LOSS, LimitPeriod.DAY, "10.00", reason=None)
    )

    assert (reply.status, reply.slug) == (400, "invalid-field")
    assert await ledger.count("SELECT count(*) FROM player_limits WHERE user_id = $1", user) == 0


async def test_a_rollback_of_an_excluded_players_bet_refunds_it(ledger: Ledger) -> None:
    user = await ledger.player("100.00")
    placed = unique("b")
    await ledger.send(webhook(BET, user, placed, "10.00"))
    await ledger.send(operator(OperatorKind.EXCLUDE, user, unique("ex"), **WHO))

    reply = await ledger.send(webhook(ROLLBACK, user, unique("rb"), None, linked_tx_id=placed))

    assert reply.status == 200
    assert await ledger.balance(user) == 100_00
