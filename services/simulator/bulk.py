"""Finished sessions written straight into the simulator's truth, in bulk (for benchmarks).

Playing 10,000 sessions of 100 transactions through the game and the operator's webhooks would
take longer than what a benchmark of the reconciler wants to measure. This seeds the same rows
the game would have left (every round FINISHED, every transaction SUCCESS and delivered); the
truth indexes transactions by session, so reading one session costs only its own rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.simulator.simulator import Simulator
from services.simulator.truth import Round, RoundStatus, Session, Transaction, TxStatus, TxType


@dataclass(frozen=True, slots=True)
class BulkTransaction:
    tx_id: str
    type: TxType
    round_id: str
    amount_minor: int
    linked_tx_id: str | None = None


@dataclass(frozen=True, slots=True)
class BulkSession:
    token: str
    user_id: str
    currency: str
    transactions: tuple[BulkTransaction, ...]


def seed_finished_sessions(
    sim: Simulator,
    sessions: Iterable[BulkSession],
    *,
    at: datetime,
    lifetime: timedelta = timedelta(hours=1),
    game: str = "aviador",
) -> int:
    """Add the sessions (opened ``at``, expiring ``lifetime`` later), their finished rounds and
    their transactions; returns the rows added."""
    truth = sim.truth
    added = 0
    for bulk in sessions:
        truth.open_session(
            Session(
                token=bulk.token,
                user_id=bulk.user_id,
                username=bulk.user_id,
                game=game,
                currency=bulk.currency,
                created_at=at,
                expires_at=at + lifetime,
                opened=True,
            ),
            None,
        )
        for row in bulk.transactions:
            if row.round_id not in truth.rounds:
                truth.rounds[row.round_id] = Round(
                    row.round_id, len(truth.rounds) + 1, "", status=RoundStatus.FINISHED
                )
            truth.add(
                Transaction(
                    tx_id=row.tx_id,
                    type=row.type,
                    session_token=bulk.token,
                    user_id=bulk.user_id,
                    currency=bulk.currency,
                    round_id=row.round_id,
                    amount_minor=row.amount_minor,
                    requested_at=at,
                    linked_tx_id=row.linked_tx_id,
                    status=TxStatus.SUCCESS,
                    delivered=True,
                )
            )
            added += 1
    return added
