"""Postgres CPU per bet of the ledger's unit of work, by batch size, with and without the
ledger's plan cache setting (``plan_cache_mode = force_generic_plan``).

``python -m bench ledger-plan-cache [--bets 1000] [--batches 1,20,200] [--rounds 2] [--months 0]``

One process, one private Postgres (``shared.infra.stack``), one migrated database. For each batch
size and each setting, alternating, the unit of work (``services/ledger/unit_of_work.py``) applies
``--bets`` bets of 50 funded players in batches of that size on a one-connection pool, and the
CPU of that connection's Postgres backend (from ``/proc``) and of this process are divided by the
bets. Low rates give the ledger one-command batches, which is where the plan cache matters. The
connection's ``pg_prepared_statements`` says how often each statement was planned afresh
(``custom_plans``) or taken from the cache (``generic_plans``). ``--months M`` first gives
``decisions`` (partitioned by month, migration 0038) the M months before this one, empty, as five
years of retention keep 60: the generic plan of the load holds a probe of every month and prunes
them at run time, so its cost per batch with many months is what this measures.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import asyncpg

from services.ledger.app import policy_of
from services.ledger.faults import Faults
from services.ledger.settings import LedgerSettings
from services.ledger.store import KEY_LOOKUPS_ONLY
from services.ledger.unit_of_work import Entry, UnitOfWork
from shared.contracts.commands import (
    Generation,
    Mode,
    OperatorCommand,
    OperatorKind,
    WebhookEnvelope,
    WebhookKind,
)
from shared.db.databases import migrated_database
from shared.db.pool import create_pool
from shared.infra.stack import local_stack

PLAYERS = 50
_PLANS = """
SELECT generic_plans, custom_plans, left(regexp_replace(statement, '\\s+', ' ', 'g'), 40) AS text
FROM pg_prepared_statements ORDER BY generic_plans + custom_plans DESC LIMIT 2
"""


def backend_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bet(user: str, tx: str) -> WebhookEnvelope:
    return WebhookEnvelope(
        kind=WebhookKind.BET,
        generation=Generation.V4,
        provider="hypetech",
        provider_tx_id=tx,
        user_id=user,
        currency="USD",
        amount=Decimal("1.00"),
        round_id=f"r-{tx}",
        session_token=f"tok-{user}",
        mode=Mode.DEFAULT,
        received_at=datetime.now(UTC),
    )


def funding(user: str) -> list[OperatorCommand]:
    now = datetime.now(UTC)
    return [
        OperatorCommand(
            kind=OperatorKind.CREATE_ACCOUNT,
            idempotency_key=f"c-{user}",
            user_id=user,
            currency="USD",
            requested_at=now,
        ),
        OperatorCommand(
            kind=OperatorKind.DEPOSIT,
            idempotency_key=f"d-{user}",
            user_id=user,
            currency="USD",
            amount=Decimal("100000.00"),
            requested_at=now,
        ),
    ]


async def one_run(dsn: str, *, generic: bool, bets: int, batch: int) -> dict[str, object]:
    settings = dict(KEY_LOOKUPS_ONLY)
    if not generic:
        settings.pop("plan_cache_mode")
    pool = await create_pool(dsn, min_size=1, max_size=1, server_settings=settings)
    run = uuid.uuid4().hex[:8]
    unit = UnitOfWork(
        pool,
        group="plan-cache",
        topic=f"plan-cache-{run}",
        events_topic="events",
        policy=policy_of(LedgerSettings(environment="test")),
        faults=Faults(),
    )
    users = [f"p{run}-{n}" for n in range(PLAYERS)]
    offset = 0
    for user in users:
        for command in funding(user):
            await unit.apply([Entry(0, offset, command, None)])
            offset += 1
    commands = [bet(users[n % PLAYERS], f"{run}-{n}") for n in range(bets)]
    async with pool.acquire() as conn:
        pid = await conn.fetchval("SELECT pg_backend_pid()")
    backend, own, wall = backend_cpu_s(pid), time.process_time(), time.perf_counter()
    for start in range(0, bets, batch):
        entries = [
            Entry(0, offset + n, c, None) for n, c in enumerate(commands[start : start + batch])
        ]
        offset += len(entries)
        await unit.apply(entries)
    backend = backend_cpu_s(pid) - backend
    own, wall = time.process_time() - own, time.perf_counter() - wall
    async with pool.acquire() as conn:
        plans = [dict(row) for row in await conn.fetch(_PLANS)]
    await pool.close()
    return {
        "generic": generic,
        "batch": batch,
        "postgres_ms_per_bet": round(backend / bets * 1000, 3),
        "ledger_ms_per_bet": round(own / bets * 1000, 3),
        "wall_ms_per_bet": round(wall / bets * 1000, 3),
        "plans": plans,
    }


async def measure(
    bets: int, batches: Sequence[int], rounds: int, months: int = 0
) -> list[dict[str, object]]:
    results: list[dict[str, object]] = []
    async with local_stack() as stack:
        name = f"bench_plan_cache_{uuid.uuid4().hex[:8]}"
        async with migrated_database(stack.database_admin_url, name) as dsn:
            if months:
                conn = await asyncpg.connect(dsn)
                try:
                    await conn.execute(
                        "SELECT decisions_add_months(now() - make_interval(months => $1), now())",
                        months,
                    )
                    print(
                        "months of decisions:",
                        await conn.fetchval(
                            "SELECT count(*) FROM pg_inherits"
                            " WHERE inhparent = 'decisions'::regclass"
                        ),
                        flush=True,
                    )
                finally:
                    await conn.close()
            for batch in batches:
                for _ in range(rounds):
                    for generic in (False, True):
                        result = await one_run(dsn, generic=generic, bets=bets, batch=batch)
                        print(result, flush=True)
                        results.append(result)
    return results


def table(results: list[dict[str, object]]) -> str:
    lines = [
        "| batch | plan cache | Postgres ms/bet (median) | ledger ms/bet | wall ms/bet |",
        "|---|---|---|---|---|",
    ]
    keys = sorted({(r["batch"], r["generic"]) for r in results}, key=str)
    for batch, generic in sorted(keys, key=lambda k: (int(str(k[0])), bool(k[1]))):
        rows = [r for r in results if (r["batch"], r["generic"]) == (batch, generic)]

        def median(field: str, rows: list[dict[str, object]] = rows) -> float:
            return statistics.median(float(str(r[field])) for r in rows)

        mode = "force_generic_plan" if generic else "auto (Postgres's default)"
        lines.append(
            f"| {batch} | {mode} | {median('postgres_ms_per_bet'):.3f}"
            f" | {median('ledger_ms_per_bet'):.3f} | {median('wall_ms_per_bet'):.3f} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench ledger-plan-cache", description=__doc__)
    parser.add_argument("--bets", type=int, default=1000)
    parser.add_argument("--batches", default="1,20,200")
    parser.add_argument("--rounds", type=int, default=2, help="runs of each setting, alternating")
    parser.add_argument(
        "--months", type=int, default=0, help="empty past months of decisions to create first"
    )
    args = parser.parse_args(argv)
    batches = [int(b) for b in args.batches.split(",")]
    results = asyncio.run(measure(args.bets, batches, args.rounds, args.months))
    print(f"load average {os.getloadavg()[0]:.2f} (1 min) at the end")
    print(table(results))


if __name__ == "__main__":
    main()
