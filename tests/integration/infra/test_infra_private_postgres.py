"""The fallback when no server answers: a private Postgres from the machine's packages.

Forced with ``HYPELEDGER_INFRA_POSTGRES=private``, so it runs while the machine's own server on
5432 keeps serving everyone else.
"""

from __future__ import annotations

import asyncpg

from shared.infra.processes import descendants
from shared.infra.selection import PostgresSource
from shared.infra.stack import local_stack
from tests.process_checks import ps_lines, wait_all_gone

PRIVATE = {"HYPELEDGER_INFRA_POSTGRES": "private", "HYPELEDGER_INFRA_BROKER": "tansu"}


async def test_private_postgres_serves_sql_from_its_own_data_directory() -> None:
    async with local_stack(PRIVATE) as stack:
        conn = await asyncpg.connect(stack.database_admin_url)
        try:
            data_directory = await conn.fetchval("SHOW data_directory")
            port = await conn.fetchval("SHOW port")
        finally:
            await conn.close()
        run_dir = str(stack.run_dir)

    assert stack.plan.postgres is PostgresSource.PRIVATE
    assert data_directory.startswith(run_dir)
    assert port != "5432"


async def test_leaving_the_stack_stops_every_process_and_removes_its_files() -> None:
    async with local_stack(PRIVATE) as stack:
        pids = [server.pid for server in stack.servers]
        pids += [child for pid in pids for child in descendants(pid)]
        run_dir = stack.run_dir
    assert run_dir is not None

    survivors = wait_all_gone(pids, within_s=5)

    assert len(pids) >= 3
    assert survivors == []
    assert ps_lines(str(run_dir)) == []
    assert not run_dir.exists()
