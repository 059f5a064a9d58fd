"""Rows through the real Postgres, in the run's database with every migration applied."""

from __future__ import annotations

import uuid

import asyncpg

from shared.db.migrate import discover


async def test_run_database_has_every_migration_recorded(db_pool: asyncpg.Pool) -> None:
    expected = [migration.version for migration in discover()]

    versions = await db_pool.fetch("SELECT version FROM schema_migrations ORDER BY version")

    assert [row["version"] for row in versions] == expected


async def test_rows_written_in_a_transaction_read_back(db_pool: asyncpg.Pool) -> None:
    table = f"scratch_{uuid.uuid4().hex[:8]}"
    async with db_pool.acquire() as conn, conn.transaction():
        await conn.execute(f"CREATE TABLE {table} (id bigint PRIMARY KEY, amount bigint NOT NULL)")
        await conn.executemany(f"INSERT INTO {table} VALUES ($1, $2)", [(1, 250), (2, -100)])

    total = await db_pool.fetchval(f"SELECT sum(amount) FROM {table}")

    assert total == 150
