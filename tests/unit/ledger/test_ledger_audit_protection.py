"""The audit's replay of a protected account: what it finds in plain rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from services.ledger.audit import replay_protection

T0 = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
ROW = dict.fromkeys(
    ("change", "limit_kind", "period", "limit_amount", "exclusion", "until", "requested_at",
     "effective_at", "mode", "stake", "player", "bonus"),
)  # fmt: skip


def change(at: datetime, **fields: Any) -> dict[str, Any]:
    return {**ROW, "kind": fields["change"], "operator_tx_id": "c", "at": at,
            "requested_at": at, "effective_at": fields.pop("effective_at", at), **fields}  # fmt: skip


def bet(at: datetime, stake: int, tx: str = "b") -> dict[str, Any]:
    return {**ROW, "kind": "bet", "operator_tx_id": tx, "at": at, "mode": "default",
            "stake": stake, "player": -stake}  # fmt: skip


def deposit(at: datetime, amount: int, tx: str = "d") -> dict[str, Any]:
    return {**ROW, "kind": "deposit", "operator_tx_id": tx, "at": at, "player": amount}


def test_finds_a_deposit_over_a_daily_deposit_limit() -> None:
    rows = [
        change(T0, change="set_limit", limit_kind="deposit", period="day", limit_amount=50_00),
        deposit(T0, 40_00, "d1"),
        deposit(T0 + timedelta(hours=1), 20_00, "d2"),
        deposit(T0 + timedelta(days=1), 50_00, "d3"),  # a new day
    ]

    violations = replay_protection(rows, "UTC")

    assert [(v["operator_tx_id"], v["broke"]) for v in violations] == [("d2", "deposit/day")]


def test_finds_a_bet_during_an_exclusion_and_none_after_it() -> None:
    until = T0 + timedelta(hours=2)
    rows = [
        change(T0, change="time_out", exclusion="time_out", until=until),
        bet(T0 + timedelta(hours=1), 1_00, "b1"),
        bet(until, 1_00, "b2"),
    ]

    violations = replay_protection(rows, "UTC")

    assert [(v["operator_tx_id"], v["broke"]) for v in violations] == [("b1", "time_out")]


def test_a_raise_counts_only_after_its_cooling_off_period() -> None:
    rows = [
        change(T0, change="set_limit", limit_kind="max_bet", period="bet", limit_amount=1_00),
        change(
            T0,
            change="set_limit",
            limit_kind="max_bet",
            period="bet",
            limit_amount=9_00,
            effective_at=T0 + timedelta(hours=24),
        ),
        bet(T0 + timedelta(hours=1), 5_00, "early"),
        bet(T0 + timedelta(hours=25), 5_00, "late"),
    ]

    violations = replay_protection(rows, "UTC")

    assert [v["operator_tx_id"] for v in violations] == ["early"]
