"""``hypeledger reconciler`` as a real process: it runs on schedule, serves /healthz, /readyz and
/metrics on its metrics port, and stores what it found (``hypeledger findings`` lists findings
through the operator API: ``tests/integration/operator_api/test_operator_api_cli.py``)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from reconciler_stack import faults, found, money_path, play  # type: ignore[import-not-found]

pytestmark = pytest.mark.integration

HYPELEDGER = str(Path(sys.executable).with_name("hypeledger"))
WITHIN_S = 60.0


def start(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([HYPELEDGER, "reconciler"], env=env, stderr=subprocess.DEVNULL)


async def test_the_scheduled_reconciler_serves_probes_and_metrics_and_its_findings_are_listed(
    infra: Any, common_env: dict[str, Any]
) -> None:
    async with money_path(
        infra, common_env, generation="v2", seed=12, **faults("0.2", ("drift",))
    ) as stack:
        await play(stack, players=3, rounds=10)
        settings = stack.reconciler_settings()
        env = {**os.environ, **stack.env(settings), "HYPELEDGER_INTERVAL_S": "3600"}
        base = f"http://127.0.0.1:{settings.metrics_port}"

        process = start(env)
        try:
            async with asyncio.timeout(WITHIN_S), httpx.AsyncClient(base_url=base) as http:
                while True:
                    assert process.poll() is None, "the reconciler exited"
                    finished = await stack.pool.fetchval(
                        "SELECT count(*) FROM reconciliation_runs WHERE status = 'finished'"
                    )
                    try:
                        ready = (await http.get("/readyz")).status_code == 200
                    except httpx.TransportError:
                        ready = False
                    if finished and ready:
                        break
                    await asyncio.sleep(0.1)
                healthz = await http.get("/healthz")
                metrics = (await http.get("/metrics")).text
        finally:
            process.send_signal(signal.SIGTERM)
            returncode = await asyncio.to_thread(process.wait, 30)

        findings = await found(stack)
        assert findings, "the seed injected no difference to find"
        assert healthz.status_code == 200
        assert 'hypeledger_reconciler_outcomes_total{row_class="matched"}' in metrics
        assert (
            f'hypeledger_reconciler_findings_total{{finding_class="missing_in_ledger"}} {len(findings)}.0'
            in metrics
        )
        assert returncode == 0
