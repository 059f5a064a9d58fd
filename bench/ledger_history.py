"""Months of ledger history, seeded fast, so the ledger benchmark can show whether the hot path
slows down as the tables grow (``python -m bench ledger --history-days 180``).

The rows are generated inside Postgres (``INSERT ... SELECT`` over ``generate_series``, one
statement per table: no rows cross the wire, faster than COPY from a client), with the
append-only, zero-sum and chain triggers off for the load (``session_replication_role =
replica``; constraints still hold): lost bets of ``HISTORY_PLAYERS`` players of their own, spread
evenly over the days before now, each with its decision (a 200-byte body, as stored answers are),
its transaction, two postings (the player's with its running balance) and its bet. The bench's
own players are untouched, so the run measures the same work on a database that is larger.
Synthetic links are not written, so the audit's chain checks would fail: the bench reports the
audit of such runs as skipped.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta

import asyncpg

HISTORY_PLAYERS = 50_000
STAKE_MINOR = 100
START_MINOR = 10**12

_STATEMENTS = (
    """
    INSERT INTO transactions
        (operator_tx_id, kind, provider, provider_tx_id, user_id, currency, round_id, created_at)
    SELECT md5('h' || g)::uuid, 'bet', 'hypetech', 'h-' || g, 'hist-' || (g % $2), 'USD',
           'hr-' || (g / 10), now() - $3::interval * (($1 - g)::float8 / $1)
    FROM generate_series(1, $1) AS g
    """,
    """
    INSERT INTO postings
        (operator_tx_id, leg, account_type, account_ref, currency, amount, posted_at, balance_after)
    SELECT md5('h' || g)::uuid, l,
           CASE l WHEN 0 THEN 'player' ELSE 'provider_clearing' END,
           CASE l WHEN 0 THEN 'hist-' || (g % $2) ELSE 'hypetech' END, 'USD',
           CASE l WHEN 0 THEN -100 ELSE 100 END,
           now() - $3::interval * (($1 - g)::float8 / $1),
           CASE l WHEN 0 THEN 1000000000000 - (g / $2 + 1) * 100 END
    FROM generate_series(1, $1) AS g, (VALUES (0::smallint), (1::smallint)) AS legs (l)
    """,
    """
    INSERT INTO decisions
        (provider, kind, provider_tx_id, user_id, currency, fingerprint, outcome, status, body,
         operator_tx_id, flags, source_topic, source_partition, source_offset, decided_at,
         occurred_at)
    SELECT 'hypetech', 'bet', 'h-' || g, 'hist-' || (g % $2), 'USD', repeat('f', 64), 'applied',
           200, repeat('x', 200), md5('h' || g)::uuid, '{}', 'history', 0, g,
           now() - $3::interval * (($1 - g)::float8 / $1),
           now() - $3::interval * (($1 - g)::float8 / $1)
    FROM generate_series(1, $1) AS g
    """,
    """
    INSERT INTO bets
        (provider, bet_tx_id, user_id, currency, round_id, amount, mode, state, operator_tx_id,
         created_at, updated_at)
    SELECT 'hypetech', 'h-' || g, 'hist-' || (g % $2), 'USD', 'hr-' || (g / 10), 100, 'default',
           'lost', md5('h' || g)::uuid,
           now() - $3::interval * (($1 - g)::float8 / $1),
           now() - $3::interval * (($1 - g)::float8 / $1)
    FROM generate_series(1, $1) AS g
    """,
)


@dataclass(frozen=True, slots=True)
class History:
    transactions: int
    days: int
    seconds: float
    database_mb: float


async def seed_history(dsn: str, days: int, per_day: int) -> History:
    """``days * per_day`` lost bets, spread over the ``days`` before now; VACUUM ANALYZE after."""
    total = days * per_day
    started = time.perf_counter()
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            await conn.execute("SET LOCAL session_replication_role = replica")
            for statement in _STATEMENTS:
                await conn.execute(statement, total, HISTORY_PLAYERS, timedelta(days=days))
        await conn.execute("VACUUM ANALYZE")
        size = await conn.fetchval("SELECT pg_database_size(current_database())")
    finally:
        await conn.close()
    return History(total, days, time.perf_counter() - started, size / 2**20)
