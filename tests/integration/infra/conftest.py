"""Fixtures for the infrastructure's own integration tests."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from shared.db.databases import create_database, drop_database
from shared.infra.stack import Stack


@pytest.fixture
async def scratch_database(infra: Stack) -> AsyncIterator[str]:
    """An empty database for one test (no migrations), dropped afterwards."""
    name = f"hypeledger_scratch_{uuid.uuid4().hex[:10]}"
    dsn = await create_database(infra.database_admin_url, name)
    try:
        yield dsn
    finally:
        await drop_database(infra.database_admin_url, name)
