"""A reconciler process killed (SIGKILL) in the middle of a run, then started again, finishes the
same run: every session checked once, every injected difference found once, nothing twice."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from reconciler_stack import (  # type: ignore[import-not-found]
    expected_findings,
    faults,
    found,
    money_path,
    play,
)

pytestmark = [pytest.mark.integration, pytest.mark.chaos]

HYPELEDGER = str(Path(sys.executable).with_name("hypeledger"))
SESSIONS = 10
DONE_WITHIN_S = 120.0


async def sessions_done(pool: Any) -> tuple[int, int]:
    row = await pool.fetchrow(
        "SELECT count(*) FILTER (WHERE state <> 'pending') AS done, count(*) AS total"
        " FROM reconciliation_run_sessions"
    )
    return int(row["done"]), int(row["total"])


def reconcile(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [HYPELEDGER, "reconcile", "--json"],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )


async def test_a_run_killed_midway_is_finished_on_restart_without_duplicate_findings(
    infra: Any, common_env: dict[str, Any]
) -> None:
    async with money_path(
        infra,
        common_env,
        generation="v2",
        seed=21,
        **faults("0.1", ("drift", "duplicate")),
        **faults("0.4", ("wrong_rollback_amount",)),
    ) as stack:
        await play(stack, players=SESSIONS, rounds=20)
        expected = expected_findings(await stack.truth())
        assert expected, "the seed injected no difference to find"
        # slow enough to be caught in the middle: one session per chunk, few requests a second
        slow = {"requests_per_second": 6, "concurrency": 1, "chunk_size": 1, "page_size": 10}
        env = stack.env(stack.reconciler_settings(**slow))

        first = reconcile(env)
        try:
            async with asyncio.timeout(DONE_WITHIN_S):
                while (await sessions_done(stack.pool))[0] < 3:
                    assert first.poll() is None, "the first reconciler ended before it was killed"
                    await asyncio.sleep(0.05)
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait()
        done_when_killed, total = await sessions_done(stack.pool)
        running = await stack.pool.fetchval(
            "SELECT count(*) FROM reconciliation_runs WHERE status = 'running'"
        )

        # the restart need not be slow: only the first run has to be caught in the middle
        second = reconcile(
            stack.env(stack.reconciler_settings(**{**slow, "requests_per_second": 50}))
        )
        out, _ = await asyncio.to_thread(second.communicate, timeout=DONE_WITHIN_S)
        report = json.loads(out)

        assert first.returncode == -signal.SIGKILL
        assert running == 1
        assert 0 < done_when_killed < total == SESSIONS
        assert second.returncode == 0
        assert report["resumed"] == 1
        assert report["sessions_done"] == SESSIONS
        assert await stack.pool.fetchval("SELECT count(*) FROM reconciliation_runs") == 1
        findings = await found(stack)
        assert len(findings) == len(set(findings)), "a finding stored twice"
        assert set(findings) == expected
        assert (
            await stack.pool.fetchval(
                "SELECT count(*) FROM reconciliation_findings WHERE times_seen <> 1"
            )
            == 0
        )
