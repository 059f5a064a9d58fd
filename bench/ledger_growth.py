"""Tables that grow: the ledger's apply rate on an empty database against one that already holds
ROWS decisions, transactions and bets (and twice as many postings), in the same run.

    python -m bench ledger-growth [--rows 20000000] [--days 60] [--n 30000] [--players 2000]
                                  [--partitions 4] [--rounds 3]

1. Start Postgres and Apache Kafka (``shared.infra.stack``), create two migrated databases and
   seed ROWS lost bets of history over DAYS days into one (``bench/ledger_history.py``: generated
   inside Postgres with the indexes built after the load, then VACUUM ANALYZE); report the time
   and the database's size.
2. ROUNDS times, alternating which database goes first: give PLAYERS fresh players (a prefix of
   the round) an account in the database, pre-load N envelopes on a fresh command topic and time
   a real ``hypeledger ledger --no-relay`` process (``--processes 1``) applying them, as
   ``bench ledger`` does. The same work each time, only the database's size differs.
3. Print each run, the medians and their ratio, and the machine's load (``/proc/loadavg``)
   before and after each run; with each run, the buffer-cache misses (``pg_statio_user_indexes``)
   of the indexes keyed by ``operator_tx_id`` and of the others (steadier than rates on a
   loaded machine).

The databases are dropped at the end (the seeded one is about 1.1 GB per million bets).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

import asyncpg

from bench.ledger import (
    envelopes,
    ledger_settings,
    loadavg,
    machine,
    preload,
    seed_accounts,
    stack_servers,
    time_ledger,
)
from bench.ledger_history import History, seed_history
from shared.contracts.topics import COMMANDS, COMMANDS_DLQ, TRANSACTIONS
from shared.db.databases import create_database, drop_database
from shared.db.migrate import migrate
from shared.infra.stack import Stack
from shared.kafka import ensure_topics


@dataclass(frozen=True, slots=True)
class Applied:
    database: str
    round: int
    seconds: float
    per_s: int
    ledger_cpu_s: float
    postgres_cpu_s: float
    peak_rss_mb: float
    load_before: str
    load_after: str
    index_misses: dict[str, int] = field(default_factory=dict)
    """Buffer-cache misses (``idx_blks_read``) during the run: each of ``TX_ID_INDEXES``, and
    ``other`` for every other index of the database."""


@dataclass(slots=True)
class Growth:
    rows: int
    days: int
    n: int
    seed_s: float
    seed_load_s: float
    seed_index_s: float
    seed_vacuum_s: float
    seeded_mb: float
    empty_mb: float
    runs: list[Applied] = field(default_factory=list)
    machine: str = ""


#: The indexes keyed by ``operator_tx_id``, where the slowdown with size was found.
#: ``decisions_operator_tx_id`` stands for that index of every monthly partition together
#: (before migration 0038 it was one index, ``decisions_operator_tx_id_key``).
TX_ID_INDEXES = (
    "postings_pkey",
    "decisions_operator_tx_id",
    "transactions_pkey",
    "transaction_chain_pkey",
)


def _counted_as(index: str, table: str) -> str:
    """The name under which an index's reads are counted: one of ``TX_ID_INDEXES`` or "other"."""
    if table.startswith("decisions") and "operator_tx_id" in index:
        return "decisions_operator_tx_id"
    return index if index in TX_ID_INDEXES else "other"


async def index_reads(dsn: str) -> dict[str, int]:
    """``idx_blks_read`` so far of each of ``TX_ID_INDEXES`` and of all other indexes together."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT indexrelname, relname, idx_blks_read FROM pg_statio_user_indexes"
        )
    finally:
        await conn.close()
    reads = dict.fromkeys((*TX_ID_INDEXES, "other"), 0)
    for index, table, read in rows:
        reads[_counted_as(index, table)] += read
    return reads


async def apply_once(
    stack: Stack,
    dsn: str,
    *,
    label: str,
    round_: int,
    n: int,
    players: int,
    partitions: int,
    batch: int,
    starting: asyncio.Event | None = None,
) -> Applied:
    """Fresh players and a fresh command topic in ``dsn``; time one ledger process applying N.
    ``starting`` is set once the envelopes are on the topic, as the ledger process starts."""
    tag = uuid.uuid4().hex[:8]
    prefix = f"g{tag}-"
    await seed_accounts(dsn, players, prefix)
    settings = ledger_settings(stack, dsn, tag, batch)
    await ensure_topics(settings, {COMMANDS: partitions, COMMANDS_DLQ: 1, TRANSACTIONS: partitions})
    await preload(settings, envelopes(n, players, prefix))
    load_before = loadavg()
    if starting is not None:
        starting.set()
    reads_before = await index_reads(dsn)
    seconds, cpu, rss, servers = await time_ledger(settings, n, 1, stack_servers(stack))
    await asyncio.sleep(1.0)  # the ledger's backends report their statistics as they exit
    reads_after = await index_reads(dsn)
    result = Applied(
        database=label,
        round=round_,
        seconds=round(seconds, 2),
        per_s=round(n / seconds),
        ledger_cpu_s=round(cpu, 2),
        postgres_cpu_s=round(servers["postgres"], 2),
        peak_rss_mb=round(max(rss), 1),
        load_before=load_before,
        load_after=loadavg(),
        index_misses={name: reads_after[name] - reads_before[name] for name in reads_after},
    )
    print(json.dumps(asdict(result)), flush=True)
    return result


async def database_mb(dsn: str) -> float:
    conn = await asyncpg.connect(dsn)
    try:
        size: int = await conn.fetchval("SELECT pg_database_size(current_database())")
        return round(size / 2**20)
    finally:
        await conn.close()


async def run(args: argparse.Namespace) -> Growth:
    from shared.infra.stack import local_stack  # noqa: PLC0415

    tag = uuid.uuid4().hex[:8]
    names = {"empty": f"bench_growth_empty_{tag}", "seeded": f"bench_growth_seeded_{tag}"}
    async with local_stack() as stack:
        dsns = {
            label: await create_database(stack.database_admin_url, name)
            for label, name in names.items()
        }
        try:
            for dsn in dsns.values():
                await migrate(dsn)
            print(f"seeding {args.rows} bets over {args.days} days; load {loadavg()}", flush=True)
            history: History = await seed_history(dsns["seeded"], args.days, args.rows // args.days)
            growth = Growth(
                rows=history.transactions,
                days=args.days,
                n=args.n,
                seed_s=round(history.seconds, 1),
                seed_load_s=history.load_s,
                seed_index_s=history.index_s,
                seed_vacuum_s=history.vacuum_s,
                seeded_mb=round(history.database_mb),
                empty_mb=await database_mb(dsns["empty"]),
                machine=machine(),
            )
            print(
                f"seeded in {growth.seed_s} s (load {growth.seed_load_s} s, indexes"
                f" {growth.seed_index_s} s, vacuum analyze {growth.seed_vacuum_s} s);"
                f" database {growth.seeded_mb} MB; load {loadavg()}",
                flush=True,
            )
            for round_ in range(1, args.rounds + 1):
                order = ("empty", "seeded") if round_ % 2 else ("seeded", "empty")
                for label in order:
                    growth.runs.append(
                        await apply_once(
                            stack,
                            dsns[label],
                            label=label,
                            round_=round_,
                            n=args.n,
                            players=args.players,
                            partitions=args.partitions,
                            batch=args.batch,
                        )
                    )
        finally:
            for name in names.values():
                await drop_database(stack.database_admin_url, name)
    return growth


def summary(growth: Growth) -> dict[str, Any]:
    medians = {
        label: statistics.median(run.per_s for run in growth.runs if run.database == label)
        for label in ("empty", "seeded")
    }
    return {
        "median_per_s": medians,
        "seeded_over_empty": round(medians["seeded"] / medians["empty"], 3),
        "median_postgres_cpu_s": {
            label: statistics.median(
                run.postgres_cpu_s for run in growth.runs if run.database == label
            )
            for label in ("empty", "seeded")
        },
        "median_tx_id_index_misses": {
            label: statistics.median(
                sum(run.index_misses.get(name, 0) for name in TX_ID_INDEXES)
                for run in growth.runs
                if run.database == label
            )
            for label in ("empty", "seeded")
        },
    }


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench ledger-growth", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--rows", type=int, default=20_000_000)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--n", type=int, default=30_000)
    parser.add_argument("--players", type=int, default=2000)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    growth = asyncio.run(run(args))
    print(json.dumps(asdict(growth), indent=2))
    print(json.dumps(summary(growth), indent=2))
