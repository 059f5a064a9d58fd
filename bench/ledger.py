"""Ledger benchmark: time to apply N pre-loaded envelopes, against the raw Postgres floor.

1. Start (or find) Postgres and Apache Kafka (``shared.infra.stack``), create two fresh
   migrated databases, and give PLAYERS players an account with money in both.
2. Pre-load N envelopes on the command topic (per player: bet, linked win, bet, linked win, ...).
3. Start ``hypeledger ledger --no-relay`` as a real process; time from its readiness (consumer
   assigned and positioned) until the offsets stored in Postgres cover all N; read its peak RSS.
4. The floor, in the same run: the same rows (decisions, transactions, postings, bets, balance
   updates, outbox, offsets) written by one set-based statement per table per batch, one
   transaction per batch, on as many connections as there are partitions, each owning disjoint
   players: no Kafka, no decoding, no decision logic.

    python -m bench ledger [--n 100000] [--players 10000] [--partitions 8] [--batch 500]
                           [--processes 1,2] [--history-days 0] [--history-per-day 5000]

With ``--history-days D``, the ledger's database first gets D days of history (``--history-per-day``
lost bets a day, ``bench/ledger_history.py``) before the same N envelopes are applied: compare
its rate with a run without history to see whether the hot path slows down as data accumulates.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import signal
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench.ledger_history import History, seed_history
from services.ledger import store
from services.ledger.app import process_env
from services.ledger.audit import audit
from services.ledger.model import Key, event_id_for
from services.ledger.settings import LedgerSettings
from shared.command_auth import command_headers
from shared.contracts.commands import Generation, WebhookEnvelope, WebhookKind
from shared.contracts.topics import COMMANDS, COMMANDS_DLQ, TRANSACTIONS
from shared.db.databases import create_database, drop_database
from shared.db.migrate import migrate
from shared.infra.processes import descendants, free_port
from shared.infra.stack import Stack, local_stack
from shared.jsonwire import dumps_compact
from shared.kafka import ensure_topics, producer

START_BALANCE = 1_000_000_00
STAKE = Decimal("1.00")
PAYOUT = Decimal("1.50")


@dataclass
class Result:
    n: int
    players: int
    partitions: int
    batch: int
    ledger_s: float
    ledger_per_s: float
    ledger_cpu_s: float
    ledger_postgres_cpu_s: float
    """Postgres's CPU seconds while the ledger ran (every live backend on the machine)."""
    ledger_broker_cpu_s: float
    floor_s: float
    floor_postgres_cpu_s: float
    floor_per_s: float
    ratio: float
    processes: int
    ledger_peak_rss_mb: float
    """The largest peak RSS of one ledger process."""
    ledger_total_peak_rss_mb: float
    audit_clean: bool | None
    """None when the audit was skipped (synthetic history carries no chain links)."""
    history_transactions: int
    history_seed_s: float
    database_mb: float
    load_before: str
    load_after: str
    machine: str


def envelopes(n: int, players: int, prefix: str = "bench-") -> list[WebhookEnvelope]:
    now = datetime.now(UTC)
    users = [f"{prefix}{index:05d}" for index in range(players)]
    out: list[WebhookEnvelope] = []
    step = 0
    while len(out) < n:
        for user in users:
            if len(out) >= n:
                break
            pair, is_win = divmod(step, 2)
            bet_id = f"{user}-b{pair}"
            out.append(
                WebhookEnvelope(
                    kind=WebhookKind.WIN if is_win else WebhookKind.BET,
                    generation=Generation.V4,
                    provider="hypetech",
                    provider_tx_id=f"{user}-w{pair}" if is_win else bet_id,
                    user_id=user,
                    currency="USD",
                    amount=PAYOUT if is_win else STAKE,
                    round_id=f"{user}-r{pair}",
                    linked_tx_id=bet_id if is_win else None,
                    session_token=None,
                    received_at=now,
                )
            )
        step += 1
    return out


async def seed_accounts(dsn: str, players: int, prefix: str = "bench-") -> None:
    """Accounts with START_BALANCE, each backed by a deposit transaction (so the audit holds)."""
    users = [f"{prefix}{index:05d}" for index in range(players)]
    ids = [str(uuid.uuid4()) for _ in users]
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            await conn.execute(
                "INSERT INTO accounts (user_id, currency, balance)"
                " SELECT u, 'USD', $2 FROM unnest($1::text[]) AS u",
                users,
                START_BALANCE,
            )
            await conn.execute(
                "INSERT INTO transactions (operator_tx_id, kind, provider, provider_tx_id, user_id, currency)"
                " SELECT i, 'deposit', 'operator', 'seed-' || u, u, 'USD'"
                " FROM unnest($1::uuid[], $2::text[]) AS s (i, u)",
                ids,
                users,
            )
            await conn.execute(
                "INSERT INTO postings"
                " (operator_tx_id, leg, account_type, account_ref, currency, amount, balance_after)"
                " SELECT i, l, CASE l WHEN 0 THEN 'player' ELSE 'operator_cash' END,"
                "        CASE l WHEN 0 THEN u ELSE 'operator' END, 'USD',"
                "        CASE l WHEN 0 THEN $3::bigint ELSE -$3::bigint END,"
                "        CASE l WHEN 0 THEN $3::bigint END"
                " FROM unnest($1::uuid[], $2::text[]) AS s (i, u), (VALUES (0), (1)) AS legs (l)",
                ids,
                users,
                START_BALANCE,
            )
    finally:
        await conn.close()


async def preload(settings: LedgerSettings, commands: list[WebhookEnvelope]) -> None:
    kafka = producer(settings, linger_ms=20, max_batch_size=512 * 1024)
    await kafka.start()
    try:
        topic = settings.topic(COMMANDS)
        signer = settings.command_signer()
        futures = []
        for command in commands:
            key, value = command.user_id.encode(), command.model_dump_json().encode()
            headers = command_headers(
                signer, key=key, correlation_id=b"", reply_to=b"", value=value
            )
            futures.append(await kafka.send(topic, value, key=key, headers=headers))
        await asyncio.gather(*futures)
    finally:
        await kafka.stop()


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


#: What the stack's servers are called (``ServerProcess.name``), by the role they play.
SERVER_ROLES = {"postgres": "postgres", "kafka": "broker", "tansu": "broker"}


def stack_servers(stack: Stack) -> dict[str, int]:
    """The leader pid of each server this run started, by role (``postgres``, ``broker``)."""
    return {SERVER_ROLES[s.name]: s.pid for s in stack.servers if s.name in SERVER_ROLES}


def family_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and its live descendants (Postgres' backends)."""
    total = 0.0
    for member in (pid, *descendants(pid)):
        with contextlib.suppress(OSError):
            total += cpu_seconds(member)
    return total


def server_cpu_seconds(servers: dict[str, int]) -> dict[str, float]:
    """CPU seconds so far of this run's Postgres and broker (0 for one it did not start).

    Live processes only: a backend that exits takes its time with it, so measure over windows in
    which the connections of interest stay open (the ledger's pool, the floor's pool).
    """
    return {role: family_cpu_seconds(servers[role]) if role in servers else 0.0
            for role in ("postgres", "broker")}  # fmt: skip


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def applied(conn: asyncpg.Connection, settings: LedgerSettings) -> int:
    total = await conn.fetchval(
        "SELECT coalesce(sum(next_offset), 0) FROM consumed_offsets WHERE group_id = $1 AND topic = $2",
        settings.consumer_group,
        settings.topic(COMMANDS),
    )
    return int(total)


async def time_ledger(
    settings: LedgerSettings, n: int, processes: int, servers: dict[str, int]
) -> tuple[float, float, list[float], dict[str, float]]:
    """Seconds from readiness to all applied, the CPU seconds used meanwhile, each process's
    peak RSS in MB, and the CPU seconds Postgres and the broker used meanwhile.

    With several processes (members of one consumer group, as replicas would run), the clock
    starts when the first is ready, so the rebalance that lets the others in is timed too.
    """
    hypeledger = str(Path(sys.executable).with_name("hypeledger"))
    ports = [free_port() for _ in range(processes)]
    members = [
        subprocess.Popen(  # noqa: ASYNC220 - started once
            [hypeledger, "ledger", "--no-relay"],
            env=process_env(
                settings.model_copy(update={"metrics_port": port, "log_level": "WARNING"})
            ),
        )
        for port in ports
    ]
    conn = await asyncpg.connect(settings.database_url)
    try:
        async with httpx.AsyncClient(timeout=1.0) as client:
            for _ in range(1200):
                _check_alive(members)
                if any(await asyncio.gather(*(_ready(client, port) for port in ports))):
                    break
                await asyncio.sleep(0.05)
        started = time.perf_counter()
        cpu_before = sum(cpu_seconds(member.pid) for member in members)
        servers_before = server_cpu_seconds(servers)
        for _ in range(60_000):
            if await applied(conn, settings) >= n:
                break
            _check_alive(members)
            await asyncio.sleep(0.02)
        elapsed = time.perf_counter() - started
        cpu = sum(cpu_seconds(member.pid) for member in members) - cpu_before
        used = {
            name: cpu - servers_before[name] for name, cpu in server_cpu_seconds(servers).items()
        }
        rss = [peak_rss_mb(member.pid) for member in members]
    finally:
        await conn.close()
        for member in members:
            member.send_signal(signal.SIGTERM)
        for member in members:
            member.wait(timeout=30)
    return elapsed, cpu, rss, used


async def _ready(client: httpx.AsyncClient, port: int) -> bool:
    try:
        return (await client.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200
    except httpx.HTTPError:
        return False


def _check_alive(members: list[subprocess.Popen[bytes]]) -> None:
    for member in members:
        if member.poll() is not None:
            raise RuntimeError(f"a ledger process exited with {member.returncode}")


def floor_rows(commands: list[WebhookEnvelope], partitions: int) -> list[list[dict[str, Any]]]:
    """Per partition (disjoint players), the rows the ledger writes for each command."""
    rows: list[list[dict[str, Any]]] = [[] for _ in range(partitions)]
    owner: dict[str, int] = {}
    for offset, command in enumerate(commands):
        part = owner.setdefault(command.user_id, len(owner) % partitions)
        key = Key(command.provider, command.kind.value, command.provider_tx_id or "")
        op_tx = key.operator_tx_id(command.received_at)
        amount = int((command.amount or Decimal(0)) * 100)
        delta = amount if command.kind is WebhookKind.WIN else -amount
        body = dumps_compact(
            {
                "operator_tx_id": op_tx,
                "new_balance": "9999999.00",
                "old_balance": "9999999.00",
                "user_id": command.user_id,
                "currency": "USD",
                "provider": "hypetech",
                "provider_tx_id": command.provider_tx_id,
            }
        )
        payload = dumps_compact(
            {"event_id": event_id_for(op_tx), "body": body, "kind": key.kind, "pad": "x" * 200}
        )
        rows[part].append(
            {
                "offset": offset,
                "key": key,
                "user": command.user_id,
                "op_tx": op_tx,
                "delta": delta,
                "amount": amount,
                "bet": command.linked_tx_id or command.provider_tx_id,
                "round": command.round_id,
                "body": body,
                "payload": payload,
                "event_id": event_id_for(op_tx),
            }
        )
    return rows


def limit_totals_columns(
    deltas: dict[str, int], wagers: dict[str, int], today: date
) -> list[list[Any]]:
    """The ``unnest`` columns of the per-period running totals the ledger keeps for every
    account it moves money for (day, week, month): the same upsert, with this batch's sums."""
    starts = {
        "day": today,
        "week": today - timedelta(days=today.weekday()),
        "month": today.replace(day=1),
    }
    rows = [
        (user, "USD", period, start, 0, wagers[user], -delta, 0)
        for user, delta in deltas.items()
        for period, start in starts.items()
    ]
    return [list(column) for column in zip(*rows, strict=True)]


#: The floor's writes: the ledger's rows by binary COPY and plain set-based updates, the cheapest
#: way Postgres takes them (no decisions made, no guard).
UPSERT_TOTALS = """
INSERT INTO limit_totals (user_id, currency, period, period_start, deposits, wagers, losses, alerts)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::date[], $5::bigint[], $6::bigint[],
                     $7::bigint[], $8::smallint[])
ON CONFLICT (user_id, currency, period) DO UPDATE
SET period_start = EXCLUDED.period_start, deposits = EXCLUDED.deposits,
    wagers = EXCLUDED.wagers, losses = EXCLUDED.losses, alerts = EXCLUDED.alerts
"""
UPDATE_ACCOUNTS = """
UPDATE accounts a SET balance = a.balance + d.delta, status = d.status, updated_at = now()
FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) AS d (user_id, currency, status, delta)
WHERE a.user_id = d.user_id AND a.currency = d.currency
"""
UPDATE_BETS = """
UPDATE bets b SET state = d.state, updated_at = now()
FROM unnest($1::text[], $2::text[], $3::text[]) AS d (provider, bet_tx_id, state)
WHERE b.provider = d.provider AND b.bet_tx_id = d.bet_tx_id
"""


async def copy_rows(conn: asyncpg.Connection, table: str, rows: list[tuple[Any, ...]]) -> None:
    if rows:
        columns = [name for name, _ in store.INSERTS[table]]
        await conn.copy_records_to_table(table, records=rows, columns=columns)


async def floor_worker(
    pool: asyncpg.Pool, rows: list[dict[str, Any]], batch: int, partition: int
) -> None:
    now = datetime.now(UTC)
    today = now.date()
    balances: dict[str, int] = defaultdict(lambda: START_BALANCE)
    async with pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO consumed_offsets (group_id, topic, partition, next_offset) VALUES ('floor', 'floor', $1, 0)",
            partition,
        )
        for start in range(0, len(rows), batch):
            chunk = rows[start : start + batch]
            bets = [r for r in chunk if r["key"].kind == "bet"]
            wins = [r for r in chunk if r["key"].kind == "win"]
            deltas: dict[str, int] = defaultdict(int)
            wagers: dict[str, int] = defaultdict(int)
            for r in chunk:
                deltas[r["user"]] += r["delta"]
                if r["key"].kind == "bet":
                    wagers[r["user"]] += r["amount"]
            async with conn.transaction():
                await copy_rows(
                    conn,
                    "idempotency_keys",
                    [
                        ("hypetech", r["key"].kind, r["key"].provider_tx_id, r["op_tx"])
                        for r in chunk
                    ],
                )
                await copy_rows(
                    conn,
                    "decisions",
                    [
                        (
                            "hypetech",
                            r["key"].kind,
                            r["key"].provider_tx_id,
                            r["user"],
                            "USD",
                            "f" * 64,
                            "applied",
                            200,
                            r["body"],
                            r["op_tx"],
                            [],
                            "floor",
                            partition,
                            r["offset"],
                            now,
                            None,
                            r["round"],
                            Decimal(r["amount"]).scaleb(-2),
                            None,
                            "default",
                        )
                        for r in chunk
                    ],
                )
                await conn.execute(UPSERT_TOTALS, *limit_totals_columns(deltas, wagers, today))
                await conn.execute(
                    UPDATE_ACCOUNTS,
                    list(deltas),
                    ["USD"] * len(deltas),
                    ["active"] * len(deltas),
                    list(deltas.values()),
                )
                await copy_rows(
                    conn,
                    "transactions",
                    [
                        (
                            r["op_tx"],
                            r["key"].kind,
                            "hypetech",
                            r["key"].provider_tx_id,
                            r["user"],
                            "USD",
                            r["round"],
                            None,
                        )
                        for r in chunk
                    ],
                )
                for r in chunk:
                    balances[r["user"]] += r["delta"]
                    r["balance_after"] = balances[r["user"]]
                await copy_rows(
                    conn,
                    "postings",
                    [
                        (
                            r["op_tx"],
                            leg,
                            "player" if leg == 0 else "provider_clearing",
                            r["user"] if leg == 0 else "hypetech",
                            "USD",
                            r["delta"] if leg == 0 else -r["delta"],
                            r["balance_after"] if leg == 0 else None,
                        )
                        for r in chunk
                        for leg in (0, 1)
                    ],
                )
                await copy_rows(
                    conn,
                    "bets",
                    [
                        (
                            "hypetech",
                            r["bet"],
                            r["user"],
                            "USD",
                            r["round"],
                            r["amount"],
                            "default",
                            None,
                            None,
                            "open",
                            r["op_tx"],
                        )
                        for r in bets
                    ],
                )
                if wins:
                    await conn.execute(
                        UPDATE_BETS,
                        ["hypetech"] * len(wins),
                        [r["bet"] for r in wins],
                        ["won"] * len(wins),
                    )
                await copy_rows(
                    conn,
                    "outbox",
                    [(r["event_id"], "floor", r["user"], r["payload"], None) for r in chunk],
                )
                await conn.execute(
                    "UPDATE consumed_offsets SET next_offset = $2"
                    " WHERE group_id = 'floor' AND topic = 'floor' AND partition = $1",
                    partition,
                    chunk[-1]["offset"] + 1,
                )


async def time_floor(
    dsn: str,
    commands: list[WebhookEnvelope],
    partitions: int,
    batch: int,
    servers: dict[str, int],
) -> tuple[float, float]:
    """Seconds to write every row set, and Postgres's CPU seconds meanwhile."""
    rows = floor_rows(commands, partitions)
    pool = await asyncpg.create_pool(dsn, min_size=partitions, max_size=partitions)
    try:
        started = time.perf_counter()
        before = server_cpu_seconds(servers)["postgres"]
        await asyncio.gather(
            *(floor_worker(pool, part, batch, index) for index, part in enumerate(rows))
        )
        elapsed = time.perf_counter() - started
        return elapsed, server_cpu_seconds(servers)["postgres"] - before
    finally:
        await pool.close()


def ledger_settings(stack: Stack, dsn: str, tag: str, batch: int) -> LedgerSettings:
    """A bench ledger's settings: its own topics and consumer group (``tag``), quick rebalances."""
    return LedgerSettings(
        environment="test",
        database_url=dsn,
        kafka_bootstrap_servers=stack.kafka_bootstrap_servers,
        kafka_flavour=stack.kafka_flavour,
        kafka_session_timeout_ms=3000,
        kafka_heartbeat_interval_ms=300,
        topic_prefix=f"bench{tag}.",
        consumer_group=f"bench{tag}",
        max_batch=batch,
        session_check=False,
    )


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return f"{os.cpu_count()} CPU ({cpu}), Python {platform.python_version()}, {platform.system()} {platform.release()}"


async def run(  # noqa: PLR0917 - one argument per bench option
    n: int,
    players: int,
    partitions: int,
    batch: int,
    processes: int = 1,
    history_days: int = 0,
    history_per_day: int = 5000,
) -> Result:
    tag = uuid.uuid4().hex[:8]
    async with local_stack() as stack:
        ledger_db = await create_database(stack.database_admin_url, f"bench_ledger_{tag}")
        floor_db = await create_database(stack.database_admin_url, f"bench_floor_{tag}")
        try:
            for dsn in (ledger_db, floor_db):
                await migrate(dsn)
                await seed_accounts(dsn, players)
            history = History(0, 0, 0.0, 0.0)
            if history_days:
                history = await seed_history(ledger_db, history_days, history_per_day)
                print(
                    f"history: {history.transactions} bets over {history_days} days seeded in"
                    f" {history.seconds:.1f} s; database {history.database_mb:.0f} MB"
                )
            settings = ledger_settings(stack, ledger_db, tag, batch)
            await ensure_topics(
                settings, {COMMANDS: partitions, COMMANDS_DLQ: 1, TRANSACTIONS: partitions}
            )
            commands = envelopes(n, players)
            await preload(settings, commands)
            load_before = loadavg()
            ledger_s, ledger_cpu, rss, servers = await time_ledger(
                settings, n, processes, stack_servers(stack)
            )
            print(
                f"ledger: {n} applied in {ledger_s:.2f} s, {ledger_cpu:.2f} CPU s,"
                f" peak RSS {' + '.join(f'{one:.1f}' for one in rss)} MB;"
                f" meanwhile Postgres {servers['postgres']:.2f} CPU s,"
                f" broker {servers['broker']:.2f} CPU s"
            )
            floor_s, floor_pg_cpu = await time_floor(
                floor_db, commands, partitions, batch, stack_servers(stack)
            )
            print(f"floor: {n} rows-sets in {floor_s:.2f} s; Postgres {floor_pg_cpu:.2f} CPU s")
            load_after = loadavg()
            conn = await asyncpg.connect(ledger_db)
            try:
                await conn.execute("ANALYZE")  # fresh statistics after the bulk load
                clean = None if history_days else (await audit(conn)).clean
                database_mb = (
                    await conn.fetchval("SELECT pg_database_size(current_database())") / 2**20
                )
            finally:
                await conn.close()
        finally:
            await drop_database(stack.database_admin_url, f"bench_ledger_{tag}")
            await drop_database(stack.database_admin_url, f"bench_floor_{tag}")
    return Result(
        n=n,
        players=players,
        partitions=partitions,
        batch=batch,
        ledger_s=round(ledger_s, 2),
        ledger_per_s=round(n / ledger_s),
        ledger_cpu_s=round(ledger_cpu, 2),
        ledger_postgres_cpu_s=round(servers["postgres"], 2),
        ledger_broker_cpu_s=round(servers["broker"], 2),
        floor_postgres_cpu_s=round(floor_pg_cpu, 2),
        floor_s=round(floor_s, 2),
        floor_per_s=round(n / floor_s),
        ratio=round(floor_s / ledger_s, 3),
        processes=processes,
        ledger_peak_rss_mb=round(max(rss), 1),
        ledger_total_peak_rss_mb=round(sum(rss), 1),
        audit_clean=clean,
        history_transactions=history.transactions,
        history_seed_s=round(history.seconds, 1),
        database_mb=round(database_mb),
        load_before=load_before,
        load_after=load_after,
        machine=machine(),
    )


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench ledger", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--players", type=int, default=10_000)
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument(
        "--processes",
        default="1,2",
        help="ledger processes in the consumer group; a comma-separated list runs the bench once"
        " for each (each run with its own databases, topic and floor)",
    )
    parser.add_argument(
        "--history-days",
        type=int,
        default=0,
        help="seed this many days of history in the ledger's database first (bench/ledger_history.py)",
    )
    parser.add_argument("--history-per-day", type=int, default=5000)
    args = parser.parse_args(argv)
    for processes in (int(count) for count in args.processes.split(",")):
        result = asyncio.run(
            run(
                args.n,
                args.players,
                args.partitions,
                args.batch,
                processes,
                args.history_days,
                args.history_per_day,
            )
        )
        print(json.dumps(asdict(result), indent=2))
        print(
            f"| {result.n} | {result.players} | {result.partitions} | {result.batch}"
            f" | {result.processes} | {result.ledger_s} s ({result.ledger_per_s}/s)"
            f" | {result.floor_s} s ({result.floor_per_s}/s) | {result.ratio}"
            f" | {result.ledger_total_peak_rss_mb} MB | {result.audit_clean}"
            f" | {result.history_transactions} | {result.database_mb} MB |"
        )
