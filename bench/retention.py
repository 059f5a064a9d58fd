"""Retention of a month: how long removing one month of decisions takes, its longest single
transaction, and the ledger's apply rate while it runs against the rate without it.

    python -m bench retention [--days 30] [--per-day 100000] [--batch-rows 10000] [--n 30000]
                              [--players 2000] [--partitions 4] [--age-days 181]

1. Start Postgres and Apache Kafka, create a migrated database and seed DAYS x PER_DAY lost bets
   (decisions, transactions, postings, bets; ``bench/ledger_history.py``) over a month that ends
   AGE_DAYS (181) days ago, so all its decisions are past a 180-day window (development's
   floor). ``decisions`` is partitioned by month (migration 0038): the months wholly past the
   cutoff are detached and dropped, the rest deleted in batches; the seeded rows per month are
   printed.
2. The ledger applies N envelopes alone (``bench ledger-growth``'s run: fresh players, a fresh
   topic, one ``hypeledger ledger`` process); then again while ``services/ledger/retention.py``
   removes the month (``expire(days=180)``, batches of BATCH_ROWS rows), started with the
   ledger process (once its envelopes are on the topic); then alone again.
3. Print the retention's total time, batches, longest batch transaction, WAL written (in all and
   per batch), the months dropped and the longest detach, the rows and keys left before the
   cutoff (0), the time of a ``VACUUM`` of decisions and of idempotency_keys after the ledger's
   run (what the deletes leave for vacuum), and the ledger's rates.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

import asyncpg

from bench.ledger import loadavg, machine
from bench.ledger_growth import apply_once
from bench.ledger_history import seed_history
from services.ledger.retention import expire
from shared.db.databases import create_database, drop_database
from shared.db.migrate import migrate
from shared.settings import Environment

WINDOW_DAYS = 180


async def _retention(dsn: str, batch_rows: int, starting: asyncio.Event) -> dict[str, Any]:
    conn = await asyncpg.connect(dsn)
    await starting.wait()
    try:
        wal_before = await conn.fetchval("SELECT pg_current_wal_lsn()")
        started = time.perf_counter()
        result = await expire(
            conn,
            now=datetime.now(UTC),
            days=WINDOW_DAYS,
            outbox_days=30,
            environment=Environment.DEVELOPMENT,
            batch_rows=batch_rows,
        )
        seconds = time.perf_counter() - started
        wal = await conn.fetchval(
            "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1::pg_lsn)", wal_before
        )
        left = await conn.fetchval(
            "SELECT count(*) FROM decisions WHERE decided_at < $1", result.cutoff
        )
        keys_left = await conn.fetchval(
            "SELECT count(*) FROM idempotency_keys WHERE decided_at < $1", result.cutoff
        )
        ended_at = time.perf_counter()
        # What the deletes leave behind: vacuum reads every index of the table whole. A month
        # dropped whole leaves nothing in decisions; the keys' deletes leave their dead rows.
        await conn.execute("SET maintenance_work_mem = '1GB'")
        vacuum: dict[str, float] = {}
        for table in ("decisions", "idempotency_keys"):
            vacuum_started = time.perf_counter()
            await conn.execute(f"VACUUM {table}")
            vacuum[table] = round(time.perf_counter() - vacuum_started, 1)
    finally:
        await conn.close()
    return {
        "seconds": round(seconds, 1),
        "decisions_deleted": result.decisions,
        "rows_per_s": round(result.decisions / seconds),
        "batches": result.batches,
        "longest_batch_s": result.longest_batch_s,
        "mean_batch_s": round(seconds / max(result.batches, 1), 3),
        "wal_mb": round(float(wal) / 2**20),
        "wal_mb_per_batch": round(float(wal) / 2**20 / max(result.batches, 1), 2),
        "partitions_dropped": result.partitions_dropped,
        "longest_detach_s": result.longest_detach_s,
        "left_before_cutoff": left,
        "keys_left_before_cutoff": keys_left,
        "vacuum_decisions_s": vacuum["decisions"],
        "vacuum_idempotency_keys_s": vacuum["idempotency_keys"],
        "ended_at": ended_at,
    }


async def _months(dsn: str, window_days: int) -> dict[str, int]:
    """The seeded decisions per monthly partition; those wholly past the window are dropped,
    the one the cutoff falls in is deleted in batches."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT tableoid::regclass::text AS month, count(*) FROM decisions"
            " WHERE decided_at < now() - make_interval(days => $1) GROUP BY 1 ORDER BY 1",
            window_days,
        )
    finally:
        await conn.close()
    return {row["month"]: row["count"] for row in rows}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from shared.infra.stack import local_stack  # noqa: PLC0415

    name = f"bench_retention_{uuid.uuid4().hex[:8]}"
    shape = {"n": args.n, "players": args.players, "partitions": args.partitions, "batch": 500}
    async with local_stack() as stack:
        dsn = await create_database(stack.database_admin_url, name)
        try:
            await migrate(dsn)
            history = await seed_history(dsn, args.days, args.per_day, age_days=args.age_days)
            months = await _months(dsn, WINDOW_DAYS)
            print(
                f"seeded {history.transactions} bets in {history.seconds:.1f} s;"
                f" database {history.database_mb:.0f} MB; load {loadavg()}; {months}",
                flush=True,
            )
            alone = await apply_once(stack, dsn, label="alone", round_=1, **shape)
            starting = asyncio.Event()
            retention = asyncio.create_task(_retention(dsn, args.batch_rows, starting))
            during = await apply_once(
                stack, dsn, label="during retention", round_=2, starting=starting, **shape
            )
            ledger_ended = time.perf_counter()
            removed = await retention
            removed["ledger_run_ended_first"] = ledger_ended <= removed.pop("ended_at")
            print(json.dumps(removed), flush=True)
            after = await apply_once(stack, dsn, label="alone", round_=3, **shape)
        finally:
            await drop_database(stack.database_admin_url, name)
    return {
        "history_bets": history.transactions,
        "seed_s": round(history.seconds, 1),
        "database_mb": round(history.database_mb),
        "months": months,
        "retention": removed,
        "ledger": [asdict(one) for one in (alone, during, after)],
        "machine": machine(),
    }


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench retention", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--per-day", type=int, default=100_000)
    parser.add_argument("--batch-rows", type=int, default=10_000)
    parser.add_argument("--n", type=int, default=30_000)
    parser.add_argument("--players", type=int, default=2000)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument(
        "--age-days",
        type=int,
        default=WINDOW_DAYS + 1,
        help="The age of the newest seeded bet (the window is 180 days); choose it to place"
        " the seeded days in one calendar month (dropped whole) or across the cutoff's month",
    )
    args = parser.parse_args(argv)
    print(json.dumps(asyncio.run(run(args)), indent=2))
