"""The balance after each player posting of a batch, from the balance after the batch."""

from __future__ import annotations

from services.ledger.balances import with_balances_after


def test_each_player_posting_carries_the_running_balance_and_house_legs_none() -> None:
    postings = [
        ("t1", 0, "player", "u1", "USD", -100),
        ("t1", 1, "provider_clearing", "hypetech", "USD", 100),
        ("t2", 0, "player", "u2", "USD", 500),
        ("t2", 1, "operator_cash", "operator", "USD", -500),
        ("t3", 0, "player", "u1", "USD", 250),
        ("t3", 1, "provider_clearing", "hypetech", "USD", -250),
    ]
    after_batch = {("u1", "USD"): 1150, ("u2", "USD"): 500}

    rows = with_balances_after(postings, lambda user, currency: after_batch[(user, currency)])

    assert [row[-1] for row in rows] == [900, None, 500, None, 1150, None]
    assert [row[:-1] for row in rows] == postings


def test_a_batch_without_postings_has_none() -> None:
    assert with_balances_after([], lambda user, currency: 0) == []
