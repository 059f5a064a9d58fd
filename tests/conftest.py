"""Fixtures every test suite shares: one stack per run, a fresh database, unique topics per test.

The stack comes from ``shared.infra.stack.local_stack`` (environment, then containers, then local
packages; see docs/infrastructure.md). Nothing starts unless a test asks for it, a server that
cannot start fails the test run loudly, and nothing started here outlives the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
import structlog

from shared.db.databases import drop_database, list_databases, migrated_database
from shared.db.pool import create_pool
from shared.infra.processes import pid_alive
from shared.infra.selection import PostgresSource
from shared.infra.stack import Stack, describe, local_stack, plan_for
from shared.kafka import ensure_topics
from shared.settings import CommonSettings

CreateTopics = Callable[[CommonSettings, Mapping[str, int]], Awaitable[dict[str, int]]]

#: Databases made by test runs are named after the run's pid, so those left by a killed run can be
#: found and dropped by the next run on the same machine.
TEST_DATABASE = re.compile(r"^hypeledger_test_(\d+)_")


def a_time_zone_far_from_midnight(now: datetime) -> str:
    """A fixed-offset zone (``Etc/GMT±N``), never UTC, whose clock reads noon or one at ``now``.

    The operator's day, week and month (limits' periods, daily reports, chain days) then cannot
    roll over during a run, wherever in the day CI starts it (a report test read the day after
    its play once, across midnight UTC); and the tests exercise a zone other than UTC.
    ``Etc/GMT-12`` is UTC+12: the sign is POSIX's, the other way round.
    """
    hours_ahead = 12 - now.astimezone(UTC).hour or 1  # -11..+12 but 0, each a zone of tzdata
    return f"Etc/GMT{'-' if hours_ahead > 0 else '+'}{abs(hours_ahead)}"


#: The operator's time zone of every service the tests start, chosen once per test process.
TIME_ZONE = a_time_zone_far_from_midnight(datetime.now(UTC))


def unique_database_name(kind: str = "run") -> str:
    """A database name unique to this process and call, recognisable as a test's."""
    return f"hypeledger_test_{os.getpid()}_{kind}_{uuid.uuid4().hex[:8]}"


async def _drop_stale_test_databases(infra: Stack) -> None:
    """Drop databases of earlier test runs on this machine whose process is gone."""
    if infra.plan.postgres not in (PostgresSource.RUNNING, PostgresSource.PRIVATE):
        return  # a server elsewhere: its pids mean nothing here
    for name in await list_databases(infra.database_admin_url, "hypeledger_test_"):
        match = TEST_DATABASE.match(name)
        if match and not pid_alive(int(match.group(1))):
            with contextlib.suppress(asyncpg.PostgresError):
                await drop_database(infra.database_admin_url, name)


@pytest.fixture(autouse=True, scope="session")
def _loggers_never_cached() -> Iterator[None]:
    """Services configure structlog to cache each logger on its first use (fast in production),
    and a cached logger keeps the configuration of that moment: a test capturing log lines
    (``structlog.testing.capture_logs``) after another test configured logging in this process
    would see nothing, depending on the order the tests ran in. In the tests every configuration
    leaves loggers uncached, and ``_logging_restored`` puts back each test's configuration."""
    configure = structlog.configure

    def uncached(**settings: Any) -> None:
        configure(**{**settings, "cache_logger_on_first_use": False})

    structlog.configure = uncached
    try:
        yield
    finally:
        structlog.configure = configure


@pytest.fixture(autouse=True)
def _logging_restored(_loggers_never_cached: None) -> Iterator[None]:
    """A test that configures logging (a service's entry point, a CLI command under a runner
    whose streams close when it ends) leaves the next test the configuration it found."""
    saved = structlog.get_config()
    try:
        yield
    finally:
        structlog.configure(**saved)


def pytest_report_header() -> str:
    """Which Postgres, broker and flavour the run uses, in the run's header."""
    plan = asyncio.run(plan_for(os.environ))
    return f"hypeledger infrastructure: {describe(plan)}"


@pytest.fixture(scope="session")
async def infra() -> AsyncIterator[Stack]:
    """The run's Postgres server and broker: ``database_admin_url``, ``kafka_bootstrap_servers``,
    ``kafka_flavour``."""
    async with local_stack() as stack:
        yield stack


@pytest.fixture(scope="session")
async def database_url(infra: Stack) -> AsyncIterator[str]:
    """A database created for this run with every migration applied; dropped at the end."""
    await _drop_stale_test_databases(infra)
    async with migrated_database(infra.database_admin_url, unique_database_name()) as dsn:
        yield dsn


@pytest.fixture(scope="session")
async def db_pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(database_url, max_size=10)
    try:
        yield pool
    finally:
        await pool.close()


@pytest.fixture(scope="session")
def common_env(infra: Stack, database_url: str) -> dict[str, Any]:
    """Settings kwargs: ``LedgerSettings(**common_env, topic_prefix=topic_prefix)``."""
    return {
        "environment": "test",
        "ledger_time_zone": TIME_ZONE,
        "database_url": database_url,
        "kafka_bootstrap_servers": infra.kafka_bootstrap_servers,
        "kafka_flavour": infra.kafka_flavour,
        "kafka_session_timeout_ms": 3000,
        "kafka_heartbeat_interval_ms": 300,
    }


@pytest.fixture
def topic_prefix() -> str:
    """A prefix unique to this test, so its topics and groups never meet another test's."""
    return f"t{uuid.uuid4().hex[:8]}."


@pytest.fixture
def create_topics(infra: Stack) -> CreateTopics:
    """``await create_topics(settings, {COMMANDS: 4})``: the prefixed topics, with partitions."""

    async def create(settings: CommonSettings, partitions: Mapping[str, int]) -> dict[str, int]:
        return await ensure_topics(settings, partitions)

    return create
