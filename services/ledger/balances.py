"""The balance after each player posting, stored with it, so a balance as of any time is one
index lookup (``postings_player_balance``) instead of a sum over the player's history.

A batch's postings are written in decision order. A player's balance changes only through its
postings (``hypeledger audit`` checks the stored balance equals their sum), so the balance the
account held before the batch is its balance after the batch minus its postings in the batch, and
each posting's balance after is that start plus the postings up to it. House accounts have no
balance row (their balances are sums): their postings carry none. Pure, no I/O.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

from services.ledger.model import AccountType

#: Positions in a posting row (``store.COPY_COLUMNS["postings"]`` without ``balance_after``).
_TYPE, _REF, _CURRENCY, _AMOUNT = 2, 3, 4, 5


def with_balances_after(
    postings: Sequence[tuple[Any, ...]], balance_now: Callable[[str, str], int]
) -> list[tuple[Any, ...]]:
    """``postings`` each with its account's balance after it appended (``None`` for house
    accounts); ``balance_now(user_id, currency)`` is the player's balance after the batch."""
    moved: dict[tuple[str, str], int] = defaultdict(int)
    for row in postings:
        if row[_TYPE] == AccountType.PLAYER:
            moved[(row[_REF], row[_CURRENCY])] += row[_AMOUNT]
    running = {key: balance_now(*key) - total for key, total in moved.items()}
    out = []
    for row in postings:
        after = None
        if row[_TYPE] == AccountType.PLAYER:
            key = (row[_REF], row[_CURRENCY])
            running[key] += row[_AMOUNT]
            after = running[key]
        out.append((*row, after))
    return out
