"""The ledger and the operator API through a real PgBouncer (Debian's) in transaction pooling mode.

The services connect as a role of their own, which carries the ledger's planner settings (as
docs/deploy.md#pgbouncer says to set them up); PgBouncer forwards to the run's Postgres.
"""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from services.ledger.settings import LedgerSettings
from services.ledger.store import KEY_LOOKUPS_ONLY
from shared.db.pool import SessionSettingsMissing, create_pool
from shared.infra.pgbouncer import start_pgbouncer
from shared.infra.processes import ServerProcess, stop_group
from tests.integration.operator_api.conftest import stack_for

pytestmark = pytest.mark.integration


def as_user(dsn: str, user: str) -> str:
    parts = urlsplit(dsn)
    netloc = f"{user}@{parts.hostname}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))


@pytest.fixture(scope="module")
def run_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="hypeledger-pgbouncer-") as directory:
        path = Path(directory)
        path.chmod(0o755)  # PgBouncer runs as another user when we are root
        yield path


@pytest.fixture(scope="module")
async def service_role(db_pool: asyncpg.Pool) -> AsyncIterator[str]:
    """A login role for the services, with the ledger's planner settings in this database."""
    role = f"hl_pooled_{uuid.uuid4().hex[:8]}"
    database = await db_pool.fetchval("SELECT current_database()")
    await db_pool.execute(f'CREATE ROLE "{role}" LOGIN IN ROLE postgres')
    for name, value in KEY_LOOKUPS_ONLY.items():
        await db_pool.execute(f'ALTER ROLE "{role}" IN DATABASE "{database}" SET {name} = {value}')
    try:
        yield role
    finally:
        await db_pool.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", role
        )
        await db_pool.execute(f'DROP ROLE "{role}"')


@pytest.fixture(scope="module")
async def pgbouncer(database_url: str, service_role: str, run_dir: Path) -> AsyncIterator[str]:
    """PgBouncer in front of the run's database; the URL through it, as the services' role."""
    started: list[ServerProcess] = []
    try:
        yield await start_pgbouncer(
            run_dir, as_user(database_url, service_role), on_spawn=started.append
        )
    finally:
        for server in started:
            await asyncio.to_thread(stop_group, server.pgid, server.stop_signal)


@pytest.fixture(scope="module")
def pooled_env(common_env: dict[str, Any], pgbouncer: str) -> dict[str, Any]:
    return {**common_env, "database_url": pgbouncer, "database_transaction_pooling": True}


async def test_the_ledger_and_the_operator_api_work_through_pgbouncer_in_transaction_mode(
    pooled_env: dict[str, Any], db_pool: asyncpg.Pool, service_role: str
) -> None:
    async with stack_for(pooled_env) as stack:
        players = [await stack.funded("BRL", "100.00") for _ in range(3)]

        async def deposit(user_id: str, n: int) -> int:
            answer = await stack.api.post(
                f"/accounts/{user_id}/BRL/deposits",
                json={"amount": "1.25"},
                headers={"Idempotency-Key": f"pooled-{user_id}-{n}"},
            )
            return answer.status_code

        statuses = await asyncio.gather(*(deposit(u, n) for u in players for n in range(8)))
        balances = [(await stack.api.get(f"/accounts/{u}/BRL")).json() for u in players]
        history = await stack.api.get(f"/accounts/{players[0]}/BRL/transactions")

    assert set(statuses) == {200}
    assert {balance["balance"] for balance in balances} == {"110.00"}
    assert history.status_code == 200
    assert len(history.json()["items"]) == 9
    outbox = await db_pool.fetchval(
        "SELECT count(*) FROM outbox WHERE message_key = ANY($1) AND published_at IS NOT NULL",
        players,
    )
    assert outbox >= 3 * 9  # the relay, through PgBouncer too, published every deposit's event


async def test_pgbouncer_refuses_the_planner_settings_as_start_up_parameters(
    pgbouncer: str,
) -> None:
    settings = LedgerSettings(environment="test", database_url=pgbouncer)

    with pytest.raises(asyncpg.PostgresError, match="unsupported startup parameter"):
        await create_pool(settings, server_settings=KEY_LOOKUPS_ONLY)


async def test_refuses_to_start_when_the_role_lacks_the_planner_settings(pgbouncer: str) -> None:
    settings = LedgerSettings(
        environment="test",
        database_url=as_user(pgbouncer, "postgres"),
        database_transaction_pooling=True,
    )

    with pytest.raises(SessionSettingsMissing, match="ALTER ROLE"):
        await create_pool(settings, server_settings=KEY_LOOKUPS_ONLY)
