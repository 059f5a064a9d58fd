"""The asyncpg pool every service uses: ``create_pool(settings)`` in the composition root.

Connections are set to UTC and named after the application (``pg_stat_activity`` shows who is
who). ``json`` and ``jsonb`` stay text in and out (asyncpg's default) unless ``json_codecs=True``,
which maps them to Python values with exact numbers (``shared.jsonwire``: no float ever appears).

Behind a PgBouncer in transaction pooling mode (``database_transaction_pooling``), consecutive
transactions of one pool connection may run on different server connections, so nothing may
live in a session: the statement cache is off by default (``statement_cache_size``), and session
settings asked for with ``server_settings`` are not sent at connection start (PgBouncer refuses
unknown start-up parameters) but must already be the role's own: the pool checks them and
refuses to start otherwise, naming the ``ALTER ROLE`` that sets them. asyncpg's reset on release
(``RESET ALL``, ``pg_advisory_unlock_all()``...) is not sent either: it would run on whichever
server connection PgBouncer picks, perhaps one another client's transaction left.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import asyncpg

from shared.jsonwire import dumps_compact, loads_exact
from shared.settings import CommonSettings

DEFAULT_MIN_SIZE = 1
DEFAULT_MAX_SIZE = 10
#: asyncpg's own default statement cache size.
DEFAULT_STATEMENT_CACHE_SIZE = 100

_SESSION_SETTINGS = "SELECT name, setting FROM pg_settings WHERE name = ANY($1::text[])"
_WHO = "SELECT current_user, current_database()"


class SessionSettingsMissing(RuntimeError):
    """Behind transaction pooling, the role does not carry the session settings a service needs."""


def statement_cache_size(settings: CommonSettings) -> int:
    """The setting when given; else 0 behind transaction pooling and asyncpg's default without."""
    if settings.database_statement_cache_size is not None:
        return settings.database_statement_cache_size
    return 0 if settings.database_transaction_pooling else DEFAULT_STATEMENT_CACHE_SIZE


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
    ``server_settings`` are added to every connection's session settings (or, behind transaction
    pooling, checked to be the role's).
    """
    pooled = isinstance(settings_or_dsn, CommonSettings) and (
        settings_or_dsn.database_transaction_pooling
    )
    if not session_reset or pooled:  # pooled: the reset would run on another client's session
        kwargs["reset"] = _keep_session
    if isinstance(settings_or_dsn, CommonSettings):
        kwargs.setdefault("statement_cache_size", statement_cache_size(settings_or_dsn))
    wanted = dict(server_settings or {})
    pool: asyncpg.Pool = await asyncpg.create_pool(
        dsn_of(settings_or_dsn),
        min_size=min_size,
        max_size=max_size,
        command_timeout=command_timeout_s,
        server_settings={
            "application_name": application_name,
            "timezone": "UTC",
            **({} if pooled else wanted),
        },
        init=_set_json_codecs if json_codecs else None,
        **kwargs,
    )
    if pooled and wanted:
        try:
            await _check_role_settings(pool, wanted)
        except BaseException:
            await pool.close()
            raise
    return pool


async def _check_role_settings(pool: asyncpg.Pool, wanted: Mapping[str, str]) -> None:
    """Refuse to go on unless every server connection gets ``wanted`` from the role."""
    async with pool.acquire() as conn:
        rows = await conn.fetch(_SESSION_SETTINGS, list(wanted))
        user, database = await conn.fetchrow(_WHO)
    found = {row["name"]: row["setting"] for row in rows}
    wrong = {name: value for name, value in wanted.items() if found.get(name) != value}
    if wrong:
        statements = "; ".join(
            f'ALTER ROLE "{user}" IN DATABASE "{database}" SET {name} = {value}'
            for name, value in wrong.items()
        )
        raise SessionSettingsMissing(
            "behind transaction pooling these session settings must come from the role "
            f"(found {found}); run: {statements}; then reconnect the pooler's server connections"
        )
