"""Migration 0038 on an existing deployment: how long converting a non-empty ``decisions`` table
into monthly partitions (and filling ``idempotency_keys``) takes per million rows.

    python -m bench decisions-migration [--rows 1000000] [--days 90]

1. Start Postgres (and Apache Kafka, unused), create a database migrated up to 0037 only.
2. Seed ROWS decisions (a 200-byte stored body each, as ``bench/ledger_history.py`` does) over
   DAYS days before now in the old, unpartitioned table, then ``VACUUM ANALYZE`` (a live table).
3. Apply 0038 with the migration runner (one transaction, as ``hypeledger migrate`` does) and
   print its time, its time per million rows, the WAL it wrote and the sizes before and after,
   and check every row and key arrived.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg

from bench.ledger import loadavg, machine
from shared.db.databases import create_database, drop_database
from shared.db.migrate import MIGRATIONS_DIR, discover, migrate

VERSION = 38

_SEED = """
INSERT INTO decisions
    (provider, kind, provider_tx_id, user_id, currency, fingerprint, outcome, status, body,
     operator_tx_id, flags, source_topic, source_partition, source_offset, decided_at,
     occurred_at, session_token, round_id, amount, mode)
SELECT 'hypetech', 'bet', 'h-' || g, 'hist-' || (g % 50000), 'USD', repeat('f', 64), 'applied',
       200, repeat('x', 200), md5('h' || g)::uuid, '{}', 'history', 0, g,
       now() - $2::interval * (($1 - g)::float8 / $1), now() - $2::interval * (($1 - g)::float8 / $1),
       'tok-' || (g % 50000), 'hr-' || (g / 10), 1.00, 'default'
FROM generate_series(1, $1) AS g
"""


async def _sizes(conn: asyncpg.Connection) -> dict[str, int]:
    rows = await conn.fetch(
        "SELECT c.relname, pg_total_relation_size(c.oid) AS bytes FROM pg_class c"
        " WHERE c.relname IN ('decisions', 'idempotency_keys') AND c.relkind = 'r'"
    )
    total = (
        await conn.fetchval(
            "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c"
            " JOIN pg_inherits i ON i.inhrelid = c.oid WHERE i.inhparent = 'decisions'::regclass"
        )
        if await conn.fetchval("SELECT to_regclass('idempotency_keys') IS NOT NULL")
        else 0
    )
    sizes = {row["relname"]: round(row["bytes"] / 2**20) for row in rows}
    if total:
        sizes["decisions (partitions)"] = round(total / 2**20)
    return sizes


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from shared.infra.stack import local_stack  # noqa: PLC0415

    name = f"bench_decisions_migration_{uuid.uuid4().hex[:8]}"
    before_dir = Path(tempfile.mkdtemp(prefix="migrations-before-0038-"))
    for migration in discover(MIGRATIONS_DIR):
        if migration.version < VERSION:
            file = f"{migration.version:04d}_{migration.name}.sql"
            shutil.copy(MIGRATIONS_DIR / file, before_dir / file)
    async with local_stack() as stack:
        dsn = await create_database(stack.database_admin_url, name)
        try:
            await migrate(dsn, before_dir)
            conn = await asyncpg.connect(dsn)
            try:
                started = time.perf_counter()
                await conn.execute(_SEED, args.rows, timedelta(days=args.days))
                await conn.execute("VACUUM ANALYZE decisions")
                seeded_s = time.perf_counter() - started
                sizes_before = await _sizes(conn)
                print(
                    f"seeded {args.rows} decisions in {seeded_s:.1f} s; {sizes_before};"
                    f" load {loadavg()}",
                    flush=True,
                )
                wal_before = await conn.fetchval("SELECT pg_current_wal_lsn()")
                load_before = loadavg()
                started = time.perf_counter()
                applied = await migrate(conn)
                seconds = time.perf_counter() - started
                wal = await conn.fetchval(
                    "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1::pg_lsn)", wal_before
                )
                counts = await conn.fetchrow(
                    "SELECT (SELECT count(*) FROM decisions) AS decisions,"
                    " (SELECT count(*) FROM idempotency_keys) AS keys,"
                    " (SELECT count(*) FROM pg_inherits"
                    "  WHERE inhparent = 'decisions'::regclass) AS months"
                )
                sizes_after = await _sizes(conn)
            finally:
                await conn.close()
        finally:
            await drop_database(stack.database_admin_url, name)
            shutil.rmtree(before_dir, ignore_errors=True)
    return {
        "rows": args.rows,
        "days": args.days,
        "applied": [m.version for m in applied],
        "seconds": round(seconds, 1),
        "seconds_per_million": round(seconds / args.rows * 1_000_000, 1),
        "wal_mb": round(float(wal) / 2**20),
        "decisions": counts["decisions"],
        "keys": counts["keys"],
        "months": counts["months"],
        "mb_before": sizes_before,
        "mb_after": sizes_after,
        "load_before": load_before,
        "load_after": loadavg(),
        "machine": machine(),
    }


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench decisions-migration", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=90)
    args = parser.parse_args(argv)
    print(json.dumps(asyncio.run(run(args)), indent=2))
