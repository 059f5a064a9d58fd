"""``hypeledger reconcile`` as a process: ``--since`` with ``Z`` or an offset, exit 0 when every
session was checked, exit 5 (partial failure) when Hypetech failed for some of them."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from reconciler_stack import money_path, play  # type: ignore[import-not-found]

from services.cli.conventions import ExitCode

pytestmark = pytest.mark.integration

HYPELEDGER = str(Path(sys.executable).with_name("hypeledger"))
WITHIN_S = 120.0


async def reconcile(env: dict[str, str], *args: str) -> tuple[int, dict[str, Any]]:
    process = await asyncio.create_subprocess_exec(
        HYPELEDGER,
        "reconcile",
        "--json",
        *args,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(WITHIN_S):
        out, err = await process.communicate()
    assert process.returncode is not None
    assert out, err.decode()[-2000:]
    return process.returncode, json.loads(out)


async def test_reconcile_reads_since_with_z_or_an_offset_and_exits_0_when_all_were_checked(
    infra: Any, common_env: dict[str, Any]
) -> None:
    async with money_path(infra, common_env, generation="v2", seed=41) as stack:
        await play(stack, players=2, rounds=3)
        env = stack.env(stack.reconciler_settings())
        hour_ago = datetime.now(UTC) - timedelta(hours=1)
        in_utc = hour_ago.strftime("%Y-%m-%dT%H:%M:%SZ")
        with_offset = hour_ago.astimezone(UTC).replace(tzinfo=None).isoformat() + "+00:00"

        z_code, z_report = await reconcile(env, "--since", in_utc)
        offset_code, offset_report = await reconcile(env, "--since", with_offset)

    assert (z_code, offset_code) == (ExitCode.OK, ExitCode.OK)
    assert z_report["sessions_total"] == 2
    assert z_report["sessions_failed"] == 0
    assert offset_report["sessions_total"] == 2
    assert datetime.fromisoformat(z_report["window_from"]) == hour_ago.replace(microsecond=0)


async def test_reconcile_exits_5_when_hypetech_failed_for_some_sessions(
    infra: Any, common_env: dict[str, Any]
) -> None:
    async with money_path(infra, common_env, generation="v2", seed=42) as stack:
        await play(stack, players=2, rounds=3)
        env = {
            **stack.env(stack.reconciler_settings(hypetech_base_url="http://127.0.0.1:9")),
            "HYPELEDGER_HYPETECH_MAX_RETRIES": "0",
        }

        code, report = await reconcile(env, "--since", "2000-01-01T00:00:00Z")

    assert code == ExitCode.PARTIAL
    assert report["sessions_failed"] == report["sessions_total"] == 2
