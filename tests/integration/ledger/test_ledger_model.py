"""Model test: random per-player sequences through the real broker and ledger vs a tiny reference.

Hypothesis draws, for a few players at once, sequences of deposits, withdrawals, bets, wins,
loses and rollbacks over a small pool of ids, so duplicates, mismatching duplicates (same id,
other amount or target) and rollbacks before their bet arise on their own. Every reply, the final
balances and the bet states must equal what the reference model below says, and the audit must be
clean afterwards.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ledger_harness import Ledger, Reply, operator, unique, webhook

from services.ledger.audit import audit
from shared.contracts.commands import OperatorKind, WebhookKind

AMOUNTS = ("1.00", "2.50", "5.00", "20.00")


@dataclass(frozen=True)
class Op:
    kind: str  # deposit, withdraw, bet, win, lose, rollback
    index: int  # the op's own id (so repeats are duplicates or mismatches)
    target: int = 0  # the bet a win or rollback names, the round a lose settles
    amount: str | None = None


ops = st.one_of(
    st.builds(Op, st.just("deposit"), st.integers(0, 2), amount=st.sampled_from(AMOUNTS)),
    st.builds(Op, st.just("withdraw"), st.integers(0, 2), amount=st.sampled_from(AMOUNTS)),
    st.builds(Op, st.just("bet"), st.integers(0, 4), amount=st.sampled_from(AMOUNTS)),
    st.builds(Op, st.just("win"), st.integers(0, 3), st.integers(0, 4), st.sampled_from(AMOUNTS)),
    st.builds(Op, st.just("lose"), st.integers(0, 2), st.integers(0, 1)),
    st.builds(Op, st.just("rollback"), st.integers(0, 3), st.integers(0, 4)),
)


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

    def apply(self, op: Op) -> tuple[int, str]:
        """(status, new_balance or problem slug) for ``op``."""
        payload = (op.amount, op.target if op.kind in ("win", "rollback", "lose") else None)
        key = (op.kind, op.index)
        if key in self.decided:
            stored_payload, stored = self.decided[key]
            return stored if stored_payload == payload else (409, "duplicate-transaction-mismatch")
        answer = self._decide(op)
        self.decided[key] = (payload, answer)
        return answer

    def _decide(self, op: Op) -> tuple[int, str]:
        amount = 0 if op.amount is None else int(Decimal(op.amount) * 100)
        if op.kind == "deposit":
            self.balance += amount
        elif op.kind == "withdraw":
            if amount > self.balance:
                return 403, "insufficient-funds"
            self.balance -= amount
        elif op.kind == "bet":
            if op.index in self.tombstones:
                return 410, "transaction-rolled-back"
            if amount > self.balance:
                return 403, "insufficient-funds"
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
                    self.bets[op.target] = (stake, "rolled_back", round_)
        return 200, f"{Decimal(self.balance) / 100:.2f}"


def command(user: str, op: Op) -> Any:
    tx = f"{user}-{op.kind}-{op.index}"
    bet_tx = f"{user}-bet-{op.target}"
    if op.kind in ("deposit", "withdraw"):
        kind = OperatorKind.DEPOSIT if op.kind == "deposit" else OperatorKind.WITHDRAW
        return operator(kind, user, tx, op.amount)
    if op.kind == "bet":
        return webhook(WebhookKind.BET, user, tx, op.amount, round_id=f"{user}-r{op.index % 2}")
    if op.kind == "win":
        return webhook(WebhookKind.WIN, user, tx, op.amount, linked_tx_id=bet_tx, round_id=None)
    if op.kind == "lose":
        return webhook(WebhookKind.LOSE, user, tx, None, round_id=f"{user}-r{op.target}")
    return webhook(WebhookKind.ROLLBACK, user, tx, None, linked_tx_id=bet_tx, round_id=None)


def observed(reply: Reply) -> tuple[int, str]:
    return (reply.status, reply.json["new_balance"] if reply.status == 200 else reply.slug)


async def play(ledger: Ledger, sequence: list[Op]) -> tuple[str, Model, list[tuple[Op, Any, Any]]]:
    user = await ledger.player(None)
    model = Model()
    differences = []
    for op in sequence:
        reply = await ledger.send(command(user, op))
        expected = model.apply(op)
        if observed(reply) != expected:
            differences.append((op, observed(reply), expected))
    return user, model, differences


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(players=st.lists(st.lists(ops, min_size=1, max_size=14), min_size=1, max_size=3))
async def test_agrees_with_the_reference_model_on_random_sequences(
    ledger: Ledger, players: list[list[Op]]
) -> None:
    results = await asyncio.gather(*(play(ledger, sequence) for sequence in players))

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
