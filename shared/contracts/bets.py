"""The states of a bet, as the ledger stores them (``bets.state``) and the reconciler reads them."""

from __future__ import annotations

from enum import StrEnum


class BetState(StrEnum):
    """``open -> won | lost | rolled_back`` and ``lost -> rolled_back`` (a database trigger
    allows nothing else)."""

    OPEN = "open"
    WON = "won"
    LOST = "lost"
    ROLLED_BACK = "rolled_back"
