"""The rows both sides of the reconciler benchmark are seeded with, from one formula.

Session ``s`` holds ``per_session`` transactions: a bet then the win that settles it, round after
round, every round finished. The ledger side is the same, so a clean run finds nothing.
"""

from __future__ import annotations

from collections.abc import Iterator

from services.simulator.bulk import BulkSession, BulkTransaction
from services.simulator.truth import TxType

CURRENCY = "USD"


def session_token(s: int) -> str:
    return f"bench-session-{s:06d}"


def user_id(s: int) -> str:
    return f"bench-user-{s:06d}"


def bench_sessions(sessions: int, per_session: int) -> Iterator[BulkSession]:
    for s in range(sessions):
        rows = []
        for j in range(per_session):
            round_id = f"bench-round-{s}-{j // 2}"
            stake = 100 + (s + j) % 900
            if j % 2 == 0:
                rows.append(BulkTransaction(str(s * per_session + j), TxType.BET, round_id, stake))
            else:
                bet = rows[-1]
                rows.append(
                    BulkTransaction(
                        str(s * per_session + j),
                        TxType.WIN,
                        round_id,
                        2 * bet.amount_minor,
                        linked_tx_id=bet.tx_id,
                    )
                )
        yield BulkSession(session_token(s), user_id(s), CURRENCY, tuple(rows))
