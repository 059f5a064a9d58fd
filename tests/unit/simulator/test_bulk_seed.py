"""Bulk-seeded sessions (for benchmarks) are listed per session, finished, as the game leaves them."""

from __future__ import annotations

from datetime import UTC, datetime

from services.simulator.bulk import BulkSession, BulkTransaction, seed_finished_sessions
from services.simulator.settings import SimulatorSettings
from services.simulator.simulator import Simulator
from services.simulator.truth import TxType


def sessions(count: int, per_session: int) -> list[BulkSession]:
    return [
        BulkSession(
            token=f"t{s}",
            user_id=f"u{s}",
            currency="USD",
            transactions=tuple(
                BulkTransaction(f"{s}-{n}", TxType.BET, f"r{s}-{n}", 100)
                for n in range(per_session)
            ),
        )
        for s in range(count)
    ]


def test_each_seeded_session_lists_only_its_own_rows_all_finished() -> None:
    sim = Simulator(SimulatorSettings(chain_length=1))

    added = seed_finished_sessions(sim, sessions(3, 5), at=datetime(2026, 1, 1, tzinfo=UTC))

    rows = sim.session_transactions("t1", 1, 100)["transactions"]
    assert added == 15
    assert [row["transactionId"] for row in rows] == [f"1-{n}" for n in range(5)]
    assert {row["roundStatus"] for row in rows} == {"FINISHED"}
