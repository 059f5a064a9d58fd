"""The asyncpg pool every service uses: ``create_pool(settings)`` in the composition root.

Connections are set to UTC and named after the application (``pg_stat_activity`` shows who is
who). ``json`` and ``jsonb`` stay text in and out (asyncpg's default) unless ``json_codecs=True``,
which maps them to Python values with exact numbers (``shared.jsonwire``: no float ever appears).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import asyncpg

from shared.jsonwire import dumps_compact, loads_exact
from shared.settings import CommonSettings

DEFAULT_MIN_SIZE = 1
DEFAULT_MAX_SIZE = 10


def dsn_of(settings_or_dsn: CommonSettings | str) -> str:
    return settings_or_dsn if isinstance(settings_or_dsn, str) else settings_or_dsn.database_url


async def _set_json_codecs(conn: asyncpg.Connection) -> None:
    for name in ("json", "jsonb"):
        await conn.set_type_codec(
            name, schema="pg_catalog", encoder=dumps_compact, decoder=loads_exact, format="text"
        )


async def _keep_session(conn: asyncpg.Connection) -> None:
    """A release hook that sends nothing (asyncpg has already rolled back an open transaction)."""


async def create_pool(
    settings_or_dsn: CommonSettings | str,
    *,
    min_size: int = DEFAULT_MIN_SIZE,
    max_size: int = DEFAULT_MAX_SIZE,
    application_name: str = "hypeledger",
    json_codecs: bool = False,
    command_timeout_s: float | None = 30.0,
    session_reset: bool = True,
    server_settings: Mapping[str, str] | None = None,
    **kwargs: Any,
) -> asyncpg.Pool:
    """A pool on the settings' ``database_url`` (or a DSN); close it with ``await pool.close()``.

    ``session_reset=False`` skips asyncpg's reset query on every release (advisory unlock,
    ``CLOSE ALL``, ``UNLISTEN *``, ``RESET ALL``: one more round trip per transaction). Only for
    services that keep no session state on a pooled connection: transaction-scoped locks and
    settings only. An open transaction is still rolled back on release either way.
    ``server_settings`` are added to every connection's session settings.
    """
    if not session_reset:
        kwargs["reset"] = _keep_session
    pool: asyncpg.Pool = await asyncpg.create_pool(
        dsn_of(settings_or_dsn),
        min_size=min_size,
        max_size=max_size,
        command_timeout=command_timeout_s,
        server_settings={
            "application_name": application_name,
            "timezone": "UTC",
            **(server_settings or {}),
        },
        init=_set_json_codecs if json_codecs else None,
        **kwargs,
    )
    return pool
