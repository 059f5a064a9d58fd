"""The ledger's integration fixtures: one real ledger per test module, on its own topics."""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from ledger_harness import Ledger, ledger_harness

from shared.db.databases import migrated_database
from shared.infra.stack import Stack


@pytest.fixture(scope="module")
async def ledger(common_env: dict[str, Any], db_pool: asyncpg.Pool) -> AsyncIterator[Ledger]:
    async with ledger_harness(common_env, db_pool) as harness:
        yield harness


@pytest.fixture(scope="module")
async def own_db(infra: Stack) -> AsyncIterator[str]:
    """A migrated database for this test module alone (its statistics and scan counters are
    this module's own), dropped after it."""
    async with migrated_database(
        infra.database_admin_url, f"hypeledger_own_{uuid.uuid4().hex[:10]}"
    ) as dsn:
        yield dsn
