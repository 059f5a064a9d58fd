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


@pytest.fixture(params=["kept", "expired"])
async def database_with_a_bet_over_its_limit(
    infra: Stack, request: pytest.FixtureRequest
) -> AsyncIterator[str]:
    """A player with a max_bet of 1.00 whose bet of 5.00 was applied anyway (as a bug that
    bypassed the check would leave it): balanced, with its decision and its bet. The limit's own
    decision is kept, or deleted as retention does (the change itself is kept for good)."""
    name = f"hypeledger_audit_{uuid.uuid4().hex[:10]}"
    async with migrated_database(infra.database_admin_url, name) as dsn:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(
                "INSERT INTO accounts (user_id, currency, balance) VALUES ('u1', 'USD', 0);"
                "INSERT INTO protection_changes (operator_tx_id, time_zone, user_id, currency,"
                " change, idempotency_key, limit_kind, period, amount, requested_at,"
                " requested_by, reason, effective_at) VALUES"
                " ('00000000-0000-0000-0000-000000000001', 'UTC', 'u1', 'USD', 'set_limit',"
                " 'k1', 'max_bet', 'bet', 100, now(), 'test', 'test', now());"
                "INSERT INTO decisions (provider, kind, provider_tx_id, user_id, currency,"
                " fingerprint, outcome, status, body, operator_tx_id, source_topic,"
                " source_partition, source_offset, occurred_at) VALUES"
                " ('operator', 'set_limit', 'k1', 'u1', 'USD', 'f', 'applied', 200, '{}',"
                "  '00000000-0000-0000-0000-000000000001', 't', 0, 0, now()),"
                " ('hypetech', 'bet', 'b1', 'u1', 'USD', 'f', 'applied', 200, '{}',"
                "  '00000000-0000-0000-0000-000000000002', 't', 0, 1, now());"
                "INSERT INTO idempotency_keys (provider, kind, provider_tx_id, operator_tx_id)"
                " VALUES ('operator', 'set_limit', 'k1', '00000000-0000-0000-0000-000000000001'),"
                " ('hypetech', 'bet', 'b1', '00000000-0000-0000-0000-000000000002');"
                "INSERT INTO transactions (operator_tx_id, kind, provider, provider_tx_id,"
                " user_id, currency) VALUES"
                " ('00000000-0000-0000-0000-000000000003', 'deposit', 'operator', 'd0', 'u1',"
                "  'USD'),"
                " ('00000000-0000-0000-0000-000000000002', 'bet', 'hypetech', 'b1', 'u1', 'USD');"
                "INSERT INTO postings (operator_tx_id, leg, account_type, account_ref, currency,"
                " amount, balance_after) VALUES"
                " ('00000000-0000-0000-0000-000000000003', 0, 'player', 'u1', 'USD', 500, 500),"
                " ('00000000-0000-0000-0000-000000000003', 1, 'operator_cash', 'operator', 'USD',"
                "  -500, NULL);"
                "INSERT INTO postings (operator_tx_id, leg, account_type, account_ref, currency,"
                " amount, balance_after) VALUES"
                " ('00000000-0000-0000-0000-000000000002', 0, 'player', 'u1', 'USD', -500, 0),"
                " ('00000000-0000-0000-0000-000000000002', 1, 'provider_clearing', 'hypetech',"
                "  'USD', 500, NULL);"
                "INSERT INTO bets (provider, bet_tx_id, user_id, currency, amount, mode,"
                " operator_tx_id) VALUES"
                " ('hypetech', 'b1', 'u1', 'USD', 500, 'default',"
                "  '00000000-0000-0000-0000-000000000002');"
            )
            if request.param == "expired":
                await conn.execute(
                    "DELETE FROM idempotency_keys WHERE kind = 'set_limit';"
                    "DELETE FROM decisions WHERE kind = 'set_limit'"
                )
        finally:
            await conn.close()
        yield dsn


async def test_exits_one_and_names_a_bet_that_broke_a_limit_in_force_at_its_time(
    database_with_a_bet_over_its_limit: str,
) -> None:
    result = run_audit(database_with_a_bet_over_its_limit)

    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAIL no_bet_or_deposit_broke_a_limit" in result.stdout
    assert "max_bet/bet" in result.stdout
    assert "FAIL balance_matches_postings" not in result.stdout
