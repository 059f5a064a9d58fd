"""The ledger's integration fixtures: one real ledger per test module, on its own topics."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from ledger_harness import Ledger, ledger_harness


@pytest.fixture(scope="module")
async def ledger(common_env: dict[str, Any], db_pool: asyncpg.Pool) -> AsyncIterator[Ledger]:
    async with ledger_harness(common_env, db_pool) as harness:
        yield harness
