"""What the example analytics consumer counts as revenue (``examples/analytics``)."""

from __future__ import annotations

from decimal import Decimal

from examples.analytics.ggr_consumer import contribution


def test_free_bet_stakes_are_not_revenue_but_their_wins_are_paid() -> None:
    base = {"provider": "hypetech", "currency": "BRL", "occurred_at": "2026-05-04T10:59:59+02:00"}

    free_bet = contribution({**base, "kind": "bet", "amount": "5.00", "mode": "free"})
    free_win = contribution({**base, "kind": "win", "amount": "7.25", "mode": "free"})
    deposit = contribution({**base, "kind": "deposit", "amount": "50.00", "mode": None})

    assert free_bet is None
    assert deposit is None
    assert free_win is not None
    assert (free_win.payouts, free_win.hour.isoformat()) == (
        Decimal("7.25"),
        "2026-05-04T08:00:00+00:00",
    )
