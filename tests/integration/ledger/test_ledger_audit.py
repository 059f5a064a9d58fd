"""``hypeledger audit`` exits 0 on a consistent ledger and 1 with a report on a broken one."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from ledger_harness import Ledger, unique, webhook

from shared.contracts.commands import WebhookKind
from shared.db.databases import migrated_database
from shared.infra.stack import Stack


def run_audit(database_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HYPELEDGER_DATABASE_URL": database_url}
    return subprocess.run(
        [str(Path(sys.executable).with_name("hypeledger")), "audit"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
async def broken_database(infra: Stack) -> AsyncIterator[str]:
    name = f"hypeledger_audit_{uuid.uuid4().hex[:10]}"
    async with migrated_database(infra.database_admin_url, name) as dsn:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(
                "INSERT INTO accounts (user_id, currency, balance) VALUES ('u1', 'USD', 500)"
            )
        finally:
            await conn.close()
        yield dsn


async def test_exits_zero_on_the_ledgers_own_database(ledger: Ledger, database_url: str) -> None:
    user = await ledger.player("10.00")
    await ledger.send(webhook(WebhookKind.BET, user, unique("b"), "1.00"))

    result = run_audit(database_url)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "clean" in result.stdout


async def test_exits_one_and_names_a_balance_that_postings_do_not_explain(
    broken_database: str,
) -> None:
    result = run_audit(broken_database)

    assert result.returncode == 1
    assert "FAIL balance_matches_postings" in result.stdout
