"""Fixtures for the infrastructure's own integration tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from shared.db.databases import create_database, drop_database
from shared.infra.stack import Stack
from tests.conftest import unique_database_name


@pytest.fixture
async def scratch_database(infra: Stack) -> AsyncIterator[str]:
    """An empty database for one test (no migrations), dropped afterwards."""
    name = unique_database_name("scratch")
    dsn = await create_database(infra.database_admin_url, name)
    try:
        yield dsn
    finally:
        await drop_database(infra.database_admin_url, name)
