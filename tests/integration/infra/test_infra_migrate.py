"""The migration runner against a real Postgres, with migrations from a temporary folder."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from shared.db.migrate import MigrationError, migrate

FIRST = (
    "CREATE TABLE wallets (id bigint PRIMARY KEY, balance bigint NOT NULL CHECK (balance >= 0));"
)
SECOND = "ALTER TABLE wallets ADD COLUMN currency text NOT NULL DEFAULT 'EUR';"


def _folder(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, sql in files.items():
        (tmp_path / name).write_text(sql)
    return tmp_path


async def _applied(dsn: str) -> list[tuple[int, str]]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT version, name FROM schema_migrations ORDER BY version")
    finally:
        await conn.close()
    return [(row["version"], row["name"]) for row in rows]


async def test_pending_migrations_are_applied_in_order_and_recorded(
    scratch_database: str, tmp_path: Path
) -> None:
    folder = _folder(tmp_path, {"0002_currency.sql": SECOND, "0001_wallets.sql": FIRST})

    applied = await migrate(scratch_database, folder)

    assert [m.version for m in applied] == [1, 2]
    assert await _applied(scratch_database) == [(1, "wallets"), (2, "currency")]


async def test_second_run_applies_nothing(scratch_database: str, tmp_path: Path) -> None:
    folder = _folder(tmp_path, {"0001_wallets.sql": FIRST})
    await migrate(scratch_database, folder)

    again = await migrate(scratch_database, folder)

    assert again == []


async def test_new_file_is_applied_on_top_of_earlier_ones(
    scratch_database: str, tmp_path: Path
) -> None:
    await migrate(scratch_database, _folder(tmp_path, {"0001_wallets.sql": FIRST}))

    applied = await migrate(scratch_database, _folder(tmp_path, {"0002_currency.sql": SECOND}))

    assert [m.name for m in applied] == ["currency"]


async def test_edited_applied_file_is_refused(scratch_database: str, tmp_path: Path) -> None:
    await migrate(scratch_database, _folder(tmp_path, {"0001_wallets.sql": FIRST}))
    _folder(tmp_path, {"0001_wallets.sql": FIRST + "\n-- a later edit"})

    with pytest.raises(MigrationError, match="changed after it was applied"):
        await migrate(scratch_database, tmp_path)


async def test_failing_migration_leaves_nothing_behind(
    scratch_database: str, tmp_path: Path
) -> None:
    broken = "CREATE TABLE half_done (id int); SELECT no_such_column FROM half_done;"
    folder = _folder(tmp_path, {"0001_wallets.sql": FIRST, "0002_broken.sql": broken})

    with pytest.raises(asyncpg.UndefinedColumnError):
        await migrate(scratch_database, folder)

    conn = await asyncpg.connect(scratch_database)
    try:
        half_done = await conn.fetchval("SELECT to_regclass('half_done')")
    finally:
        await conn.close()
    assert half_done is None
    assert await _applied(scratch_database) == [(1, "wallets")]


async def test_concurrent_migrators_apply_each_file_once(
    scratch_database: str, tmp_path: Path
) -> None:
    folder = _folder(tmp_path, {"0001_wallets.sql": FIRST, "0002_currency.sql": SECOND})

    results = await asyncio.gather(*(migrate(scratch_database, folder) for _ in range(4)))

    assert sorted(len(applied) for applied in results) == [0, 0, 0, 2]
    assert await _applied(scratch_database) == [(1, "wallets"), (2, "currency")]
