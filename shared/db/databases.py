"""Create and drop whole databases on a server (a fresh database per test run, the demo's own)."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from shared.db.migrate import migrate

_SAFE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def with_database(dsn: str, name: str) -> str:
    """``dsn`` pointing at database ``name`` instead (URL-form DSNs only)."""
    parts = urlsplit(dsn)
    if parts.scheme not in ("postgres", "postgresql"):
        raise ValueError("expected a postgresql:// URL")
    return urlunsplit(parts._replace(path=f"/{name}"))


def database_name(dsn: str) -> str:
    return urlsplit(dsn).path.lstrip("/")


def _checked(name: str) -> str:
    if not _SAFE_NAME.match(name):
        raise ValueError(f"unsafe database name {name!r}")
    return name


async def list_databases(admin_dsn: str, prefix: str) -> list[str]:
    """Names of the server's databases that start with ``prefix``."""
    conn = await asyncpg.connect(admin_dsn)
    try:
        rows = await conn.fetch(
            "SELECT datname FROM pg_database WHERE starts_with(datname, $1) ORDER BY datname",
            prefix,
        )
    finally:
        await conn.close()
    return [row["datname"] for row in rows]


async def create_database(admin_dsn: str, name: str, *, if_missing: bool = False) -> str:
    """Create database ``name`` on the server of ``admin_dsn``; return its DSN."""
    conn = await asyncpg.connect(admin_dsn)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not (exists and if_missing):
            await conn.execute(f'CREATE DATABASE "{_checked(name)}"')
    finally:
        await conn.close()
    return with_database(admin_dsn, name)


async def drop_database(admin_dsn: str, name: str) -> None:
    """Drop database ``name``, disconnecting whoever is still on it."""
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{_checked(name)}" WITH (FORCE)')
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def migrated_database(admin_dsn: str, name: str) -> AsyncIterator[str]:
    """A fresh database ``name`` with every migration applied, dropped on exit; yields its DSN."""
    dsn = await create_database(admin_dsn, name)
    try:
        await migrate(dsn)
        yield dsn
    finally:
        await drop_database(admin_dsn, name)
