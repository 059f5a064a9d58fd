"""Months of ledger history, seeded fast, so the ledger benchmark can show whether the hot path
slows down as the tables grow (``python -m bench ledger --history-days 180``,
``python -m bench ledger-growth``, ``python -m bench retention``).

The rows are generated inside Postgres (``INSERT ... SELECT`` over ``generate_series``: no rows
cross the wire, where ``COPY FROM STDIN`` would carry rows a Python client must first build; not
measured against each other), with the append-only, zero-sum and hash-chain
triggers off for the load (``session_replication_role = replica``; a seed only: the chain's
statement trigger on postings would otherwise link every row, and the foreign keys' triggers are
off too) and, for a large seed, with the seeded tables' indexes and constraints dropped first and
built again after the load (each a sort instead of one random insert per row and index: this is
what makes 20 million rows a matter of minutes; constraints are checked again as they are added).
Lost bets of their own players (each with its account), spread evenly over the ``days`` that end ``age_days`` before now,
each with its decision (a 200-byte body, as stored answers are; in the monthly partitions of
``decisions``, created first, with its ``idempotency_keys`` row), its transaction, two postings
(the player's with its running balance) and its bet. The bench's own players are untouched, so a
run measures the same work on a database that is larger. Synthetic links are not written, so the
audit's chain checks would fail: the bench reports the audit of such runs as skipped. ANALYZE (as
autovacuum would after such a load) and VACUUM (the visibility map an insert-only table gets from
autovacuum) follow.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import timedelta

import asyncpg

HISTORY_PLAYERS = 50_000
STAKE_MINOR = 100
START_MINOR = 10**12
#: From this many bets on, indexes are dropped for the load and built after it.
REBUILD_FROM = 1_000_000
SEEDED = ("transactions", "postings", "decisions", "idempotency_keys", "bets")

#: $1 rows, $2 players, $3 the span of days, $4 the age of the newest row.
_WHEN = "now() - $4::interval - $3::interval * (($1 - g)::float8 / $1)"
_STATEMENTS = {
    "transactions": f"""
    INSERT INTO transactions
        (operator_tx_id, kind, provider, provider_tx_id, user_id, currency, round_id, created_at)
    SELECT md5('h' || g)::uuid, 'bet', 'hypetech', 'h-' || g, 'hist-' || (g % $2), 'USD',
           'hr-' || (g / 10), {_WHEN}
    FROM generate_series(1, $1) AS g
    """,
    "postings": f"""
    INSERT INTO postings
        (operator_tx_id, leg, account_type, account_ref, currency, amount, posted_at, balance_after)
    SELECT md5('h' || g)::uuid, l,
           CASE l WHEN 0 THEN 'player' ELSE 'provider_clearing' END,
           CASE l WHEN 0 THEN 'hist-' || (g % $2) ELSE 'hypetech' END, 'USD',
           CASE l WHEN 0 THEN -100 ELSE 100 END,
           {_WHEN},
           CASE l WHEN 0 THEN 1000000000000 - (g / $2 + 1) * 100 END
    FROM generate_series(1, $1) AS g, (VALUES (0::smallint), (1::smallint)) AS legs (l)
    """,
    "decisions": f"""
    INSERT INTO decisions
        (provider, kind, provider_tx_id, user_id, currency, fingerprint, outcome, status, body,
         operator_tx_id, flags, source_topic, source_partition, source_offset, decided_at,
         occurred_at)
    SELECT 'hypetech', 'bet', 'h-' || g, 'hist-' || (g % $2), 'USD', repeat('f', 64), 'applied',
           200, repeat('x', 200), md5('h' || g)::uuid, '{{}}', 'history', 0, g, {_WHEN}, {_WHEN}
    FROM generate_series(1, $1) AS g
    """,
    "bets": f"""
    INSERT INTO bets
        (provider, bet_tx_id, user_id, currency, round_id, amount, mode, state, operator_tx_id,
         created_at, updated_at)
    SELECT 'hypetech', 'h-' || g, 'hist-' || (g % $2), 'USD', 'hr-' || (g / 10), 100, 'default',
           'lost', md5('h' || g)::uuid, {_WHEN}, {_WHEN}
    FROM generate_series(1, $1) AS g
    """,
}

#: The key of each seeded decision, with its very decided_at (the one partition it names), read
#: from the decisions once they are loaded.
_KEYS = """
INSERT INTO idempotency_keys (provider, kind, provider_tx_id, decided_at, operator_tx_id)
SELECT provider, kind, provider_tx_id, decided_at, operator_tx_id
FROM decisions
WHERE source_topic = 'history'
"""

#: Constraints on the seeded tables and the foreign keys that point at them, with what adds them
#: again; foreign keys first (dropped first, added last).
_CONSTRAINTS = """
SELECT c.contype = 'f' AS foreign_key, c.conrelid::regclass::text AS owner, c.conname,
       pg_get_constraintdef(c.oid) AS definition
FROM pg_constraint c
WHERE c.contype IN ('p', 'u', 'f', 'x')
  AND (c.conrelid = ANY($1::regclass[]) OR c.confrelid = ANY($1::regclass[]))
ORDER BY c.contype <> 'f', c.conname
"""
#: The other indexes of the seeded tables.
_INDEXES = """
SELECT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS definition
FROM pg_index i
WHERE i.indrelid = ANY($1::regclass[])
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
ORDER BY 1
"""


@dataclass(frozen=True, slots=True)
class History:
    transactions: int
    days: int
    seconds: float
    database_mb: float
    load_s: float = 0.0
    index_s: float = 0.0
    vacuum_s: float = 0.0


async def _load(dsn: str, tables: tuple[str, ...], args: tuple[object, ...]) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        for table in tables:
            async with conn.transaction():
                await conn.execute("SET LOCAL session_replication_role = replica")
                if table == "idempotency_keys":
                    await conn.execute(_KEYS)
                else:
                    await conn.execute(_STATEMENTS[table], *args)
    finally:
        await conn.close()


async def _run_all(dsn: str, statements: list[str], connections: int = 2) -> None:
    """Run the statements on ``connections`` sessions at once, each with room to sort."""
    queue = list(statements)

    async def worker() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute("SET maintenance_work_mem = '1GB'; SET work_mem = '256MB'")
            while queue:
                await conn.execute(queue.pop(0))
        finally:
            await conn.close()

    await asyncio.gather(*(worker() for _ in range(connections)))


async def seed_history(dsn: str, days: int, per_day: int, age_days: int = 0) -> History:
    """``days * per_day`` lost bets, spread over the ``days`` that end ``age_days`` before now;
    indexes rebuilt after the load from ``REBUILD_FROM`` bets on; then VACUUM ANALYZE."""
    total = days * per_day
    started = time.perf_counter()
    conn = await asyncpg.connect(dsn)
    try:
        rebuild = total >= REBUILD_FROM
        constraints, indexes = [], []
        if rebuild:
            constraints = await conn.fetch(_CONSTRAINTS, list(SEEDED))
            indexes = await conn.fetch(_INDEXES, list(SEEDED))
            async with conn.transaction():
                for row in constraints:
                    await conn.execute(
                        f"ALTER TABLE {row['owner']} DROP CONSTRAINT {row['conname']}"
                    )
                for row in indexes:
                    await conn.execute(f"DROP INDEX {row['name']}")
        args = (total, HISTORY_PLAYERS, timedelta(days=days), timedelta(days=age_days))
        # The monthly partitions of decisions the history falls in (migration 0038).
        await conn.execute(
            "SELECT decisions_add_months(now() - $1::interval - $2::interval, now())",
            args[3],
            args[2],
        )
        await conn.execute(
            "INSERT INTO accounts (user_id, currency, balance)"
            " SELECT 'hist-' || p, 'USD', $2::bigint - ($1::bigint / $3) * $4 FROM generate_series(0, $3 - 1) AS p"
            " ON CONFLICT DO NOTHING",
            total,
            START_MINOR,
            HISTORY_PLAYERS,
            STAKE_MINOR,
        )
        # Two sessions at once (this machine has two cores): the money on one, the keys on the other.
        await asyncio.gather(
            _load(dsn, ("transactions", "postings"), args),
            _load(dsn, ("decisions", "idempotency_keys", "bets"), args),
        )
        loaded = time.perf_counter()
        if rebuild:
            # A partitioned table's index is defined ON ONLY the table; made again on the
            # table, it is built on every partition.
            await _run_all(dsn, [row["definition"].replace(" ON ONLY ", " ON ") for row in indexes])
            await _run_all(
                dsn,
                [
                    f"ALTER TABLE {row['owner']} ADD CONSTRAINT {row['conname']} {row['definition']}"
                    for row in constraints
                    if not row["foreign_key"]
                ],
            )
            await _run_all(
                dsn,
                [
                    f"ALTER TABLE {row['owner']} ADD CONSTRAINT {row['conname']} {row['definition']}"
                    for row in constraints
                    if row["foreign_key"]
                ],
            )
        indexed = time.perf_counter()
        await conn.execute("VACUUM ANALYZE")
        size = await conn.fetchval("SELECT pg_database_size(current_database())")
    finally:
        await conn.close()
    done = time.perf_counter()
    return History(
        total,
        days,
        done - started,
        size / 2**20,
        load_s=round(loaded - started, 1),
        index_s=round(indexed - loaded, 1),
        vacuum_s=round(done - indexed, 1),
    )
