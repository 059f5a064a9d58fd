"""Reconciler benchmark: one full run over N sessions of M transactions each, against the
simulator over HTTP and the ledger's tables in Postgres.

1. Start (or find) Postgres and a Kafka-protocol broker (``shared.infra.stack``); create a fresh
   migrated database.
2. Seed both sides from one formula (``bench.reconcile_rows``): the simulator, in its own process,
   bulk-seeded (``services.simulator.bulk``); the ledger's decisions (with what each webhook
   asked for) and bets, by COPY. Every row agrees, so the run must end with zero findings.
3. Time ``Reconciler.run_once``: choose the sessions (ledger activity plus Hypetech's active
   list), page through every session's transactions, match, store progress, finish the run.

    python -m bench reconcile [--sessions 10000] [--per-session 100] [--concurrency 4] [--repeat 1]

With ``--repeat N`` the same seed is reconciled N times (the reconciler's own runs, findings and
watermark are deleted between runs, so each one checks every session again); the run time
reported is the median, every run's time is listed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench.reconcile_rows import CURRENCY, bench_sessions
from services.reconciler.app import build
from services.reconciler.runner import RunRequest
from services.reconciler.settings import ReconcilerSettings
from services.simulator.truth import TxType
from shared.contracts.topics import COMMANDS, RECONCILIATION
from shared.db.databases import create_database, drop_database
from shared.db.migrate import migrate
from shared.infra.processes import free_port
from shared.infra.stack import local_stack
from shared.kafka import ensure_topics

TOKEN = "bench-simulator-token"  # noqa: S105 - the local simulator's bench token


@dataclass
class Result:
    sessions: int
    per_session: int
    concurrency: int
    page_size: int
    run_s: float
    runs_s: list[float]
    reconciler_cpu_s: float
    """CPU time of the reconciler's process during the run (median over the repeats)."""
    simulator_cpu_s: float
    """CPU time of the simulator's process during the run (median over the repeats)."""
    provider_rows: int
    ledger_rows: int
    rows_per_s: int
    sessions_per_s: int
    findings: int
    totals: dict[str, int]
    seed_s: float
    load: str
    """Load average (1, 5, 15 min) before the first run and after the last."""
    machine: str


async def seed_ledger(dsn: str, sessions: int, per_session: int) -> int:
    decided = datetime.now(UTC) - timedelta(minutes=20)
    decisions: list[tuple[Any, ...]] = []
    bets: list[tuple[Any, ...]] = []
    for bulk in bench_sessions(sessions, per_session):
        for row in bulk.transactions:
            kind = "bet" if row.type is TxType.BET else "win"
            op = uuid.uuid4()
            decisions.append(
                ("hypetech", kind, row.tx_id, bulk.user_id, CURRENCY, "", "applied", 200, "{}",
                 op, "bench", 0, len(decisions), decided, bulk.token, row.round_id,
                 Decimal(row.amount_minor).scaleb(-2), None, "default")
            )  # fmt: skip
            if kind == "bet":
                bets.append(
                    ("hypetech", row.tx_id, bulk.user_id, CURRENCY, row.round_id,
                     row.amount_minor, "default", "won", op, decided)
                )  # fmt: skip
    conn = await asyncpg.connect(dsn)
    try:
        await conn.copy_records_to_table(
            "decisions",
            records=decisions,
            columns=["provider", "kind", "provider_tx_id", "user_id", "currency", "fingerprint",
                     "outcome", "status", "body", "operator_tx_id", "source_topic",
                     "source_partition", "source_offset", "decided_at", "session_token",
                     "round_id", "amount", "target_tx_id", "mode"],
        )  # fmt: skip
        await conn.copy_records_to_table(
            "bets",
            records=bets,
            columns=["provider", "bet_tx_id", "user_id", "currency", "round_id", "amount", "mode",
                     "state", "operator_tx_id", "created_at"],
        )  # fmt: skip
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    return len(decisions)


SQL_FORGET_RUNS = """
TRUNCATE reconciliation_finding_changes, reconciliation_findings, reconciliation_watermarks,
         reconciliation_run_sessions, reconciler_round_settlements, reconciliation_runs
"""


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def process_cpu_s(pid: int) -> float:
    """User plus system CPU seconds a process has used so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def wait_healthy(url: str, process: subprocess.Popen[bytes], within_s: float) -> None:
    deadline = time.monotonic() + within_s
    async with httpx.AsyncClient() as http:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError("the simulator exited")
            try:
                if (await http.get(f"{url}/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError("the simulator did not become healthy")


async def run(
    sessions: int, per_session: int, concurrency: int, page_size: int, repeat: int = 1
) -> Result:
    async with local_stack() as stack:
        name = f"hypeledger_bench_rec_{uuid.uuid4().hex[:8]}"
        dsn = await create_database(stack.database_admin_url, name)
        port = free_port()
        simulator = subprocess.Popen(  # noqa: ASYNC220 - started once, never waited on here
            [sys.executable, "-m", "bench.reconcile_simulator", "--port", str(port),
             "--sessions", str(sessions), "--per-session", str(per_session), "--token", TOKEN],
        )  # fmt: skip
        try:
            await migrate(dsn)
            seed_started = time.perf_counter()
            await seed_ledger(dsn, sessions, per_session)
            url = f"http://127.0.0.1:{port}"
            await wait_healthy(url, simulator, within_s=600)
            seed_s = time.perf_counter() - seed_started
            settings = ReconcilerSettings(
                environment="test",
                database_url=dsn,
                kafka_bootstrap_servers=stack.kafka_bootstrap_servers,
                kafka_flavour=stack.kafka_flavour,
                topic_prefix=f"b{uuid.uuid4().hex[:6]}.",
                hypetech_base_url=url,
                hypetech_api_token=TOKEN,
                grace_period_s=60,
                requests_per_second=100_000,
                concurrency=concurrency,
                chunk_size=max(256, concurrency * 16),
                page_size=page_size,
                log_level="WARNING",
            )
            await ensure_topics(settings, {COMMANDS: 1, RECONCILIATION: 1})
            load_before = load_average()
            runs_s: list[float] = []
            own_cpu: list[float] = []
            simulator_cpu: list[float] = []
            for _ in range(repeat):
                async with build(settings) as app:
                    await app.pool.execute(SQL_FORGET_RUNS)
                    cpu = (time.process_time(), process_cpu_s(simulator.pid))
                    started = time.perf_counter()
                    report = await app.reconciler.run_once(RunRequest(trigger="manual"))
                    runs_s.append(time.perf_counter() - started)
                    own_cpu.append(time.process_time() - cpu[0])
                    simulator_cpu.append(process_cpu_s(simulator.pid) - cpu[1])
                    findings = await app.pool.fetchval(
                        "SELECT count(*) FROM reconciliation_findings"
                    )
            load_after = load_average()
        finally:
            simulator.terminate()
            simulator.wait(timeout=30)
            await drop_database(stack.database_admin_url, name)
    rows = report.provider_rows + report.ledger_rows
    run_s = statistics.median(runs_s)
    return Result(
        sessions=sessions,
        per_session=per_session,
        concurrency=concurrency,
        page_size=page_size,
        run_s=round(run_s, 2),
        runs_s=[round(r, 2) for r in runs_s],
        reconciler_cpu_s=round(statistics.median(own_cpu), 2),
        simulator_cpu_s=round(statistics.median(simulator_cpu), 2),
        provider_rows=report.provider_rows,
        ledger_rows=report.ledger_rows,
        rows_per_s=int(rows / run_s),
        sessions_per_s=int(report.sessions_done / run_s),
        findings=int(findings),
        totals=report.totals,
        seed_s=round(seed_s, 1),
        load=f"{load_before} -> {load_after}",
        machine=f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
    )


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench reconcile", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--per-session", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args(argv)
    result = asyncio.run(
        run(args.sessions, args.per_session, args.concurrency, args.page_size, args.repeat)
    )
    print(json.dumps(asdict(result), indent=2))
    print(
        f"| {result.sessions} x {result.per_session} | {result.concurrency} | {result.page_size} "
        f"| {result.run_s} s | {result.provider_rows + result.ledger_rows} "
        f"| {result.rows_per_s}/s | {result.sessions_per_s}/s | {result.findings} |"
    )
