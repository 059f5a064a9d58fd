"""Migration files on disk: naming, order and the refusals that need no database."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.db.migrate import MIGRATIONS_DIR, Migration, MigrationError, discover, pending


def _write(directory: Path, files: dict[str, str]) -> Path:
    for name, sql in files.items():
        (directory / name).write_text(sql)
    return directory


def test_migrations_are_discovered_in_version_order(tmp_path: Path) -> None:
    _write(tmp_path, {"0010_b.sql": "SELECT 2;", "0002_a.sql": "SELECT 1;"})

    found = discover(tmp_path)

    assert [(m.version, m.name) for m in found] == [(2, "a"), (10, "b")]


def test_badly_named_sql_file_is_refused(tmp_path: Path) -> None:
    _write(tmp_path, {"2_add-things.sql": "SELECT 1;"})

    with pytest.raises(MigrationError, match="NNNN_snake_name"):
        discover(tmp_path)


def test_two_files_with_one_version_are_refused(tmp_path: Path) -> None:
    _write(tmp_path, {"0001_a.sql": "SELECT 1;", "0001_b.sql": "SELECT 2;"})

    with pytest.raises(MigrationError, match="share version 0001"):
        discover(tmp_path)


def test_only_unapplied_migrations_are_pending() -> None:
    first, second = Migration(1, "a", "SELECT 1;"), Migration(2, "b", "SELECT 2;")

    todo = pending([first, second], {1: ("a", first.checksum)})

    assert todo == [second]


def test_changed_applied_migration_is_refused() -> None:
    edited = Migration(1, "a", "SELECT 1; -- edited")

    with pytest.raises(MigrationError, match="changed after it was applied"):
        pending([edited], {1: ("a", Migration(1, "a", "SELECT 1;").checksum)})


def test_database_newer_than_the_code_is_refused() -> None:
    with pytest.raises(MigrationError, match="does not know"):
        pending([], {7: ("future", "0" * 64)})


def test_shipped_migrations_are_well_formed() -> None:
    found = discover(MIGRATIONS_DIR)

    assert all(migration.sql.strip() for migration in found)
