"""The whole system under every fault at once, briefly (``tests/chaos/soak.py`` has the long run):
the ledger SIGKILLed every ~10 s, the ingress twice, the broker once, Postgres once, while the
simulator plays with duplicates, lost replies, rollbacks before their bet and drift. The money
must match the simulator's truth to the cent, duplicates must get the same bytes, and the audit
must be clean."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from soak import RECOVERY_LIMIT_S, run_soak

pytestmark = pytest.mark.chaos

#: Seconds of play: with the servers' starts and the checks the test stays under two minutes.
PLAY_S = 40.0


async def test_the_money_holds_and_every_service_recovers_under_every_fault(
    tmp_path: Path,
) -> None:
    result = await run_soak(PLAY_S, players=10, run_dir=tmp_path)

    logging.getLogger(__name__).warning("soak:\n%s", result.report())
    assert result.mismatches == []
    assert result.audit_clean, result.audit_output
    assert (result.duplicates_same, result.duplicates_differed) != (0, 0)
    assert result.duplicates_differed == 0
    assert {recovery.fault for recovery in result.recoveries} >= {
        "ledger SIGKILL",
        "ingress SIGKILL",
        "broker SIGKILL (down 2 s)",
        "Postgres immediate stop (down 3 s)",
    }
    assert all(recovery.took_s < RECOVERY_LIMIT_S for recovery in result.recoveries)
