"""Model test: random per-player sequences through the real broker and ledger vs a tiny reference.

Hypothesis draws, for a few players at once, sequences of deposits, withdrawals, bets, wins,
loses and rollbacks over a small pool of ids, so duplicates, mismatching duplicates (same id,
other amount or target) and rollbacks before their bet arise on their own. Every reply, the final
balances and the bet states must equal what the reference model below says, and the audit must be
clean afterwards.

Player protection is in the sequences too: limits set, raised (after the cooling-off period),
lowered and removed, time-outs, and a clock that moves between commands (each command carries its
own time) across midnight in a non-UTC zone (the ledger here runs in America/Sao_Paulo) and across
a week and a month boundary. The reference scans the player's history for every check; the ledger
must agree with it using its running totals.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ledger_harness import Ledger, Reply, ledger_harness, operator, unique, webhook

from services.ledger.audit import audit
from shared.contracts.commands import OperatorKind, WebhookKind
from shared.contracts.protection import LimitKind, LimitPeriod

AMOUNTS = ("1.00", "2.50", "5.00", "20.00")
ZONE = "America/Sao_Paulo"
COOLING_OFF = timedelta(hours=24)
#: Where a player's clock starts (Sao Paulo time, UTC-3): Sunday 31 May before midnight (a day,
#: a week and a month end together), Tuesday 30 June (a month ends mid-week), Sunday 5 July (a
#: week ends mid-month).
STARTS = (
    datetime(2026, 5, 31, 22, 30, tzinfo=timezone(timedelta(hours=-3))),
    datetime(2026, 6, 30, 23, 0, tzinfo=timezone(timedelta(hours=-3))),
    datetime(2026, 7, 5, 23, 15, tzinfo=timezone(timedelta(hours=-3))),
)
#: Minutes the clock moves before a command.
ADVANCES = (0, 0, 20, 45, 180, 24 * 60)
#: The limits the sequences set: (kind, period).
LIMITS = (
    (LimitKind.LOSS, LimitPeriod.DAY),
    (LimitKind.WAGER, LimitPeriod.WEEK),
    (LimitKind.DEPOSIT, LimitPeriod.MONTH),
    (LimitKind.MAX_BET, LimitPeriod.BET),
)
LIMIT_AMOUNTS = ("2.50", "5.00", "20.00", None)  # None: remove
TIME_OUTS = (timedelta(minutes=30), timedelta(days=2))
WHO = {"requested_by": "model", "reason": "model test"}


@pytest.fixture(scope="module")
async def ledger(common_env: dict[str, Any], db_pool: asyncpg.Pool) -> AsyncIterator[Ledger]:
    """This module's ledger counts limits' periods in a zone that is not UTC."""
    async with ledger_harness(common_env, db_pool, ledger_time_zone=ZONE) as harness:
        yield harness


@dataclass(frozen=True)
class Op:
    kind: str  # deposit, withdraw, bet, win, lose, rollback, limit, time_out
    index: int  # the op's own id (so repeats are duplicates or mismatches)
    target: int = 0  # the bet a win or rollback names, the round a lose settles, the limit
    # set, the time-out's length
    amount: str | None = None
    advance: int = 0  # minutes the clock moves before the op


ops = st.one_of(
    st.builds(Op, st.just("deposit"), st.integers(0, 2), amount=st.sampled_from(AMOUNTS)),
    st.builds(Op, st.just("withdraw"), st.integers(0, 2), amount=st.sampled_from(AMOUNTS)),
    st.builds(Op, st.just("bet"), st.integers(0, 4), amount=st.sampled_from(AMOUNTS)),
    st.builds(Op, st.just("win"), st.integers(0, 3), st.integers(0, 4), st.sampled_from(AMOUNTS)),
    st.builds(Op, st.just("lose"), st.integers(0, 2), st.integers(0, 1)),
    st.builds(Op, st.just("rollback"), st.integers(0, 3), st.integers(0, 4)),
    *[  # twice as likely as the others: limits must bite within a short sequence
        st.builds(
            Op,
            st.just("limit"),
            st.integers(0, 3),
            st.integers(0, len(LIMITS) - 1),
            st.sampled_from(LIMIT_AMOUNTS),
        )
    ]
    * 2,
    st.builds(Op, st.just("time_out"), st.integers(0, 1), st.integers(0, len(TIME_OUTS) - 1)),
)
timed_ops = st.builds(
    lambda op, advance: Op(op.kind, op.index, op.target, op.amount, advance),
    ops,
    st.sampled_from(ADVANCES),
)


def calendar_period(at: datetime, period: LimitPeriod) -> tuple[int, ...]:
    """The calendar period holding ``at`` in ``ZONE`` (the reference's own reading)."""
    local = at.astimezone(ZoneInfo(ZONE))
    if period is LimitPeriod.DAY:
        return (local.year, local.month, local.day)
    if period is LimitPeriod.WEEK:
        iso = local.isocalendar()
        return (iso.year, iso.week)
    return (local.year, local.month)


@dataclass
class Model:
    """What the wallet semantics say, for one player, in the smallest form."""

    balance: int = 0
    bets: dict[int, tuple[int, str, int]] = field(
        default_factory=dict
    )  # id -> (stake, state, round)
    tombstones: set[int] = field(default_factory=set)
    decided: dict[tuple[str, int], tuple[tuple[Any, ...], tuple[int, str]]] = field(
        default_factory=dict
    )
    now: datetime = STARTS[0]
    limits: dict[int, tuple[int, tuple[int | None, datetime] | None]] = field(
        default_factory=dict
    )  # limit index -> (in force, pending (value, from) or None)
    history: list[tuple[datetime, str, int]] = field(
        default_factory=list
    )  # (when, deposit | wager | loss, amount): scanned for every check
    excluded_until: datetime | None = None

    def payload(self, op: Op) -> tuple[Any, ...]:
        if op.kind == "time_out":
            return (self.now + TIME_OUTS[op.target],)
        return (op.amount, op.target if op.kind in ("win", "rollback", "lose", "limit") else None)

    def apply(self, op: Op) -> tuple[int, str]:
        """(status, new_balance, "ok" or the problem slug) for ``op``."""
        self.now += timedelta(minutes=op.advance)
        payload = self.payload(op)
        # Setting and removing are two commands (two key spaces), like bet and win.
        kind = "remove_limit" if op.kind == "limit" and op.amount is None else op.kind
        key = (kind, op.index)
        if key in self.decided:
            stored_payload, stored = self.decided[key]
            return stored if stored_payload == payload else (409, "duplicate-transaction-mismatch")
        answer = self._decide(op)
        self.decided[key] = (payload, answer)
        return answer

    def in_force(self, index: int) -> int | None:
        current, pending = self.limits.get(index, (None, None))
        if pending is not None and self.now >= pending[1]:
            current = pending[0]
        return current

    def used(self, total: str, period: LimitPeriod) -> int:
        here = calendar_period(self.now, period)
        return sum(
            amount
            for when, kind, amount in self.history
            if kind == total and calendar_period(when, period) == here
        )

    def breaks_a_limit(self, amount: int, kinds: tuple[LimitKind, ...]) -> bool:
        for index, (kind, period) in enumerate(LIMITS):
            cap = self.in_force(index)
            if kind not in kinds or cap is None:
                continue
            used = 0 if period is LimitPeriod.BET else self.used(kind.value, period)
            if used + amount > cap:
                return True
        return False

    def change_limit(self, op: Op) -> None:
        value = None if op.amount is None else int(Decimal(op.amount) * 100)
        current = self.in_force(op.target)
        if value is not None and (current is None or value <= current):
            self.limits[op.target] = (value, None)
        elif current is not None:
            self.limits[op.target] = (current, (value, self.now + COOLING_OFF))

    def _decide(self, op: Op) -> tuple[int, str]:
        amount = 0 if op.amount is None else int(Decimal(op.amount) * 100)
        if op.kind == "limit":
            self.change_limit(op)
            return 200, "ok"
        if op.kind == "time_out":
            until = self.now + TIME_OUTS[op.target]
            if self.excluded_until is None or self.excluded_until <= self.now:
                self.excluded_until = until
            else:
                self.excluded_until = max(self.excluded_until, until)
            return 200, "ok"
        if op.kind == "deposit":
            if self.excluded_until is not None and self.now < self.excluded_until:
                return 403, "player-self-excluded"
            if self.breaks_a_limit(amount, (LimitKind.DEPOSIT,)):
                return 403, "limit-exceeded"
            self.history.append((self.now, "deposit", amount))
            self.balance += amount
        elif op.kind == "withdraw":
            if amount > self.balance:
                return 403, "insufficient-funds"
            self.balance -= amount
        elif op.kind == "bet":
            if self.excluded_until is not None and self.now < self.excluded_until:
                return 403, "player-self-excluded"
            if op.index in self.tombstones:
                return 410, "transaction-rolled-back"
            stake_kinds = (LimitKind.MAX_BET, LimitKind.WAGER, LimitKind.LOSS)
            if self.breaks_a_limit(amount, stake_kinds):
                return 403, "limit-exceeded"
            if amount > self.balance:
                return 403, "insufficient-funds"
            self.history += [(self.now, "wager", amount), (self.now, "loss", amount)]
            self.balance -= amount
            self.bets[op.index] = (amount, "open", op.index % 2)
        elif op.kind == "win":
            if op.target not in self.bets:
                return 404, "bet-not-found"
            stake, state, round_ = self.bets[op.target]
            if state == "rolled_back":
                return 409, "bet-rolled-back"
            if state != "open":
                return 409, "bet-already-settled"
            self.balance += amount
            self.history.append((self.now, "loss", -amount))
            self.bets[op.target] = (stake, "won", round_)
        elif op.kind == "lose":
            for bet_id, (stake, state, round_) in self.bets.items():
                if state == "open" and round_ == op.target:
                    self.bets[bet_id] = (stake, "lost", round_)
        elif op.kind == "rollback":
            if op.target not in self.bets:
                self.tombstones.add(op.target)
            else:
                stake, state, round_ = self.bets[op.target]
                if state == "won":
                    return 409, "bet-already-settled"
                if state != "rolled_back":
                    self.balance += stake
                    self.history.append((self.now, "loss", -stake))
                    self.bets[op.target] = (stake, "rolled_back", round_)
        return 200, f"{Decimal(self.balance) / 100:.2f}"


def command(user: str, op: Op, at: datetime) -> Any:
    tx = f"{user}-{op.kind}-{op.index}"
    bet_tx = f"{user}-bet-{op.target}"
    when = {"received_at": at}
    if op.kind in ("deposit", "withdraw"):
        kind = OperatorKind.DEPOSIT if op.kind == "deposit" else OperatorKind.WITHDRAW
        return operator(kind, user, tx, op.amount, requested_at=at)
    if op.kind == "limit":
        limit, period = LIMITS[op.target]
        kind = OperatorKind.REMOVE_LIMIT if op.amount is None else OperatorKind.SET_LIMIT
        return operator(
            kind, user, tx, op.amount, limit=limit, period=period, requested_at=at, **WHO
        )
    if op.kind == "time_out":
        until = at + TIME_OUTS[op.target]
        return operator(OperatorKind.TIME_OUT, user, tx, until=until, requested_at=at, **WHO)
    if op.kind == "bet":
        round_id = f"{user}-r{op.index % 2}"
        return webhook(WebhookKind.BET, user, tx, op.amount, round_id=round_id, **when)
    if op.kind == "win":
        return webhook(
            WebhookKind.WIN, user, tx, op.amount, linked_tx_id=bet_tx, round_id=None, **when
        )
    if op.kind == "lose":
        return webhook(WebhookKind.LOSE, user, tx, None, round_id=f"{user}-r{op.target}", **when)
    return webhook(WebhookKind.ROLLBACK, user, tx, None, linked_tx_id=bet_tx, round_id=None, **when)


def observed(op: Op, reply: Reply) -> tuple[int, str]:
    if reply.status != 200:
        return reply.status, reply.slug
    return 200, "ok" if op.kind in ("limit", "time_out") else reply.json["new_balance"]


async def play(
    ledger: Ledger, sequence: list[Op], start: datetime
) -> tuple[str, Model, list[tuple[Op, Any, Any]]]:
    user = await ledger.player("50.00")  # deposited today: outside every period of the model
    model = Model(balance=50_00, now=start)
    differences = []
    for op in sequence:
        expected = model.apply(op)
        reply = await ledger.send(command(user, op, model.now))
        if observed(op, reply) != expected:
            differences.append((op, model.now, observed(op, reply), expected))
    return user, model, differences


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    players=st.lists(
        st.tuples(st.lists(timed_ops, min_size=1, max_size=14), st.sampled_from(STARTS)),
        min_size=1,
        max_size=3,
    )
)
async def test_agrees_with_the_reference_model_on_random_sequences(
    ledger: Ledger, players: list[tuple[list[Op], datetime]]
) -> None:
    results = await asyncio.gather(*(play(ledger, sequence, start) for sequence, start in players))

    for user, model, differences in results:
        assert differences == []
        assert await ledger.balance(user) == model.balance
        for bet_index, (_, state, _) in model.bets.items():
            assert await ledger.bet_state(f"{user}-bet-{bet_index}") == state
        never_placed = [i for i in range(5) if i not in model.bets]
        for bet_index in never_placed:
            assert await ledger.bet_state(f"{user}-bet-{bet_index}") is None
    async with ledger.pool.acquire() as conn:
        report = await audit(conn)
    assert report.clean, report.violations


async def test_audit_is_clean_after_bets_through_the_ledger(ledger: Ledger) -> None:
    user = await ledger.player("10.00")
    await ledger.send(webhook(WebhookKind.BET, user, unique("b"), "1.00"))

    async with ledger.pool.acquire() as conn:
        report = await audit(conn)

    assert report.clean, report.violations
