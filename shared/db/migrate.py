"""Forward-only migrations: ``shared/db/migrations/NNNN_name.sql``, applied in order.

Each file runs in its own transaction together with its row in ``schema_migrations`` (version,
name, SHA-256 of the file), so a failed file leaves nothing behind. A session-level advisory lock
serialises concurrent migrators. The runner refuses to go on when a file that was already applied
has changed, or when the database has a version this code does not know (it is newer than us).
Statements that cannot run in a transaction (``CREATE INDEX CONCURRENTLY``) are not supported.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg

MIGRATIONS_DIR = Path(__file__).with_name("migrations")

#: Key of the advisory lock held while migrating (any constant; shared by every migrator).
LOCK_KEY = 0x6879_7065_6C64  # "hypeld"

_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     integer     PRIMARY KEY,
    name        text        NOT NULL,
    checksum    text        NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT schema_migrations_checksum_sha256 CHECK (checksum ~ '^[0-9a-f]{64}$')
)
"""

_APPLIED = """
SELECT version, name, checksum
FROM schema_migrations
ORDER BY version
"""

_RECORD = """
INSERT INTO schema_migrations (version, name, checksum)
VALUES ($1, $2, $3)
"""


class MigrationError(RuntimeError):
    """The migrations on disk and in the database disagree, or a file is malformed."""


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """The migration files of ``directory`` in version order (other files are ignored)."""
    found: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if match is None:
            raise MigrationError(f"{path.name}: migration files are named NNNN_snake_name.sql")
        version = int(match.group(1))
        if version in found:
            raise MigrationError(f"two migrations share version {version:04d}: {path.name}")
        found[version] = Migration(version, match.group(2), path.read_text(encoding="utf-8"))
    return [found[version] for version in sorted(found)]


def pending(known: list[Migration], applied: dict[int, tuple[str, str]]) -> list[Migration]:
    """The migrations of ``known`` not yet in ``applied`` ({version: (name, checksum)}).

    Refuses an applied migration whose file changed, and one this code does not have.
    """
    by_version = {migration.version: migration for migration in known}
    for version, (name, checksum) in applied.items():
        migration = by_version.get(version)
        if migration is None:
            raise MigrationError(
                f"the database has migration {version:04d}_{name}, which this code does not know"
            )
        if migration.checksum != checksum:
            raise MigrationError(
                f"migration {version:04d}_{name} changed after it was applied; "
                "add a new migration instead of editing an applied one"
            )
    return [migration for migration in known if migration.version not in applied]


async def migrate(
    conn_or_dsn: asyncpg.Connection | str, directory: Path = MIGRATIONS_DIR
) -> list[Migration]:
    """Apply the pending migrations of ``directory``; return those applied (oldest first)."""
    known = discover(directory)
    if isinstance(conn_or_dsn, str):
        conn = await asyncpg.connect(conn_or_dsn)
        try:
            return await _migrate(conn, known)
        finally:
            await conn.close()
    return await _migrate(conn_or_dsn, known)


async def _migrate(conn: asyncpg.Connection, known: list[Migration]) -> list[Migration]:
    await conn.execute("SELECT pg_advisory_lock($1)", LOCK_KEY)
    try:
        await conn.execute(_CREATE_TABLE)
        rows = await conn.fetch(_APPLIED)
        applied = {row["version"]: (row["name"], row["checksum"]) for row in rows}
        done: list[Migration] = []
        for migration in pending(known, applied):
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(_RECORD, migration.version, migration.name, migration.checksum)
            done.append(migration)
        return done
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", LOCK_KEY)
