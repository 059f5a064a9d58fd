"""End-to-end benchmark of the ingress: signed webhooks -> ingress -> broker -> ledger -> answer.

One run, every part a process of its own: the broker and Postgres (``shared.infra.stack``), the
ledger (``hypeledger ledger``), the ingress (``hypeledger ingress``), the load generator
(``bench.ingress_load``), and for the floor an echo responder and a requester
(``bench.ingress_floor``). Reports throughput and p50/p99 at fixed rates and at full speed, the
broker's request-reply floor measured in the same run, each process's peak RSS, the machine's load,
and checks that every answered bet was applied exactly once.

    .venv/bin/python -m bench ingress --rates 500,1000,2000 --duration 15
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from shared.contracts.commands import OperatorCommand, OperatorKind
from shared.contracts.topics import COMMANDS, COMMANDS_DLQ, TRANSACTIONS
from shared.db.databases import create_database, drop_database
from shared.db.migrate import migrate
from shared.infra.processes import free_port, stop_group, tail
from shared.infra.stack import Stack, local_stack
from shared.kafka import ensure_topics
from shared.kafka_rpc import KafkaRpcClient
from shared.settings import CommonSettings

PY = sys.executable
HYPELEDGER = str(Path(PY).with_name("hypeledger"))
READY_WITHIN_S = 60.0


def family(pid: int) -> list[int]:
    """``pid`` and its descendants (uvicorn's worker processes, when there are several)."""
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        for child in task.read_text().split():
            pids += family(int(child))
    return pids


def peak_rss_mb(pid: int) -> float | None:
    """The largest peak resident set (VmHWM) of ``pid`` and its descendants, in MB."""
    peaks = []
    for member in family(pid):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peaks.append(round(int(line.split()[1]) / 1024, 1))
    return max(peaks, default=None)


@contextlib.contextmanager
def process(argv: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        child = subprocess.Popen(argv, env=env, stdout=out, stderr=out, start_new_session=True)
    try:
        yield child
    finally:
        stop_group(child.pid, grace_s=10)
        child.wait(timeout=15)


async def wait_ready(url: str, child: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + READY_WITHIN_S
    async with httpx.AsyncClient(timeout=2) as http:
        while time.monotonic() < deadline:
            if child.poll() is not None:
                raise RuntimeError(f"{url} exited:\n{tail(log, 40)}")
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get(url)).status_code == 200:
                    return
            await asyncio.sleep(0.2)
    raise RuntimeError(f"{url} not ready within {READY_WITHIN_S} s:\n{tail(log, 40)}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds ``pid`` and its live descendants have used so far."""
    total = 0
    for member in family(pid):
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def run_json(
    argv: list[str], env: dict[str, str], pids: dict[str, int] | None = None
) -> dict[str, Any]:
    """Run a benchmark process; add the CPU each of ``pids`` spent per answered request."""
    before = {name: cpu_seconds(pid) for name, pid in (pids or {}).items()}
    done = subprocess.run(argv, env=env, capture_output=True, check=False, timeout=900)
    if done.returncode != 0:
        raise RuntimeError(f"{argv[2]} failed:\n{done.stderr.decode()[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.decode().strip().splitlines()[-1])
    answered = max(1, int(result["answered"]))
    result["cpu_ms_per_request"] = {
        name: round((cpu_seconds(pid) - before[name]) / answered * 1000, 3)
        for name, pid in (pids or {}).items()
    }
    result["load_avg_1m_after"] = round(os.getloadavg()[0], 2)
    return result


@contextlib.asynccontextmanager
async def bench_database(stack: Stack) -> AsyncIterator[str]:
    name = f"hypeledger_bench_{uuid.uuid4().hex[:8]}"
    dsn = await create_database(stack.database_admin_url, name)
    try:
        await migrate(dsn)
        yield dsn
    finally:
        await drop_database(stack.database_admin_url, name)


async def create_players(settings: CommonSettings, dsn: str, count: int) -> list[str]:
    """``count`` funded players with a live session ``tok-<user>``, created through the ledger."""
    rpc = KafkaRpcClient(settings, request_topic=COMMANDS, client_id="bench-setup")
    await rpc.start()
    users = [f"bench-{uuid.uuid4().hex[:10]}" for _ in range(count)]
    now = datetime.now(UTC)
    try:
        for kind, amount in (
            (OperatorKind.CREATE_ACCOUNT, None),
            (OperatorKind.DEPOSIT, "1000000"),
        ):
            commands = [
                OperatorCommand(
                    kind=kind, idempotency_key=f"{kind.value}-{user}", user_id=user,
                    currency="USD", amount=None if amount is None else Decimal(amount),
                    requested_at=now,
                )
                for user in users
            ]  # fmt: skip
            replies = await asyncio.gather(*(
                rpc.request(key=c.user_id, value=c.model_dump_json().encode(), timeout_s=60)
                for c in commands
            ))  # fmt: skip
            refused = [r.value for r in replies if b'"status":200' not in r.value]
            if refused:
                raise RuntimeError(f"setup refused: {refused[:3]}")
    finally:
        await rpc.stop()
    conn = await asyncpg.connect(dsn)
    try:
        await conn.executemany(
            "INSERT INTO sessions (token, user_id, currency, game, expires_at)"
            " VALUES ($1, $2, 'USD', 'aviador', $3)",
            [(f"tok-{user}", user, now + timedelta(hours=6)) for user in users],
        )
    finally:
        await conn.close()
    return users


async def applied_bets(dsn: str, users: list[str]) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        count: int = await conn.fetchval(
            "SELECT count(*) FROM bets WHERE user_id = ANY($1::text[])", users
        )
    finally:
        await conn.close()
    return count


async def load_runs(
    load: list[str],
    rates: list[float],
    args: argparse.Namespace,
    env: dict[str, str],
    pids: dict[str, int],
) -> list[dict[str, Any]]:
    """A short warm-up, then each fixed rate, then full speed (the warm-up is listed first)."""
    runs = [run_json([*load, "--rate", "200", "--duration", "3"], env, pids)]
    runs[0]["mode"] = "warm-up 200/s"
    for rate in rates:
        runs.append(
            run_json([*load, "--rate", str(rate), "--duration", str(args.duration)], env, pids)
        )
    runs.append(run_json([*load, "--rate", "0", "--count", str(args.full_count),
                          "--connections", str(args.connections)], env, pids))  # fmt: skip
    return runs


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    rates = [float(rate) for rate in args.rates.split(",") if rate]
    report: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "load_avg_1m_before": round(os.getloadavg()[0], 2),
        "server": f"uvicorn (uvloop, httptools), {args.ingress_workers} worker process(es)",
    }
    async with local_stack() as stack, bench_database(stack) as dsn:
        prefix = f"bench{uuid.uuid4().hex[:6]}."
        common = {
            "HYPELEDGER_ENVIRONMENT": "production",
            "HYPELEDGER_DATABASE_URL": dsn,
            "HYPELEDGER_KAFKA_BOOTSTRAP_SERVERS": stack.kafka_bootstrap_servers,
            "HYPELEDGER_KAFKA_FLAVOUR": stack.kafka_flavour.value,
            "HYPELEDGER_KAFKA_FETCH_MAX_WAIT_MS": str(args.fetch_max_wait_ms),
            "HYPELEDGER_TOPIC_PREFIX": prefix,
            "HYPELEDGER_LOG_FORMAT": "json",
        }
        env = {**os.environ, **common}
        settings = CommonSettings(
            environment="development",
            kafka_bootstrap_servers=stack.kafka_bootstrap_servers,
            kafka_flavour=stack.kafka_flavour,
            kafka_fetch_max_wait_ms=args.fetch_max_wait_ms,
            topic_prefix=prefix,
        )
        partitions = args.partitions
        await ensure_topics(
            settings, {COMMANDS: partitions, COMMANDS_DLQ: 1, TRANSACTIONS: partitions}
        )
        key = secrets.token_hex(24)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        ledger_port = free_port()
        ledger_env = {**env, "HYPELEDGER_METRICS_PORT": str(ledger_port),
                      "HYPELEDGER_RELAY_METRICS_PORT": str(free_port())}  # fmt: skip
        ingress_env = {**env, "HYPELEDGER_PORT": str(port), "HYPELEDGER_PUBLIC_BASE_URL": url,
                       "HYPELEDGER_HYPETECH_API_KEYS": key}  # fmt: skip
        logs = Path(tempfile.mkdtemp(prefix="hypeledger-bench-"))
        report["logs"] = str(logs)

        floor_prefix = f"floor{uuid.uuid4().hex[:6]}."
        floor_settings = settings.model_copy(update={"topic_prefix": floor_prefix})
        await ensure_topics(floor_settings, {COMMANDS: partitions})
        floor_args = ["--bootstrap", stack.kafka_bootstrap_servers, "--prefix", floor_prefix,
                      "--flavour", stack.kafka_flavour.value,
                      "--fetch-max-wait-ms", str(args.fetch_max_wait_ms)]  # fmt: skip
        echo_ingress_env = {**ingress_env, "HYPELEDGER_TOPIC_PREFIX": floor_prefix}
        broker = {s.name: s.pid for s in stack.servers if s.name == "tansu"}
        with process([PY, "-m", "bench.ingress_floor", "respond", *floor_args], env,
                     logs / "floor-responder.log") as responder:  # fmt: skip
            await asyncio.sleep(1.0)
            pids = {"responder": responder.pid, **broker}
            report["floor"] = [
                run_json([PY, "-m", "bench.ingress_floor", "request", *floor_args,
                          "--rate", str(rate), "--duration", str(args.duration)], env, pids)
                for rate in rates
            ] + [
                run_json([PY, "-m", "bench.ingress_floor", "request", *floor_args,
                          "--rate", "0", "--count", str(args.full_count)], env, pids),
            ]  # fmt: skip
            with process(
                [HYPELEDGER, "ingress", "--workers", str(args.ingress_workers)],
                echo_ingress_env,
                logs / "ingress-echo.log",
            ) as ingress:
                await wait_ready(f"{url}/readyz", ingress, logs / "ingress-echo.log")
                echo_users = logs / "echo-users.txt"
                echo_users.write_text("\n".join(f"echo-{n}" for n in range(args.users)))
                load = [PY, "-m", "bench.ingress_load", "--url", url, "--key", key,
                        "--users", str(echo_users)]  # fmt: skip
                pids = {"ingress": ingress.pid, "responder": responder.pid, **broker}
                report["ingress_with_echo_ledger"] = await load_runs(load, rates, args, env, pids)
                report["peak_rss_mb_ingress_with_echo"] = peak_rss_mb(ingress.pid)

        if not args.no_ledger:
            with (
                process(
                    [HYPELEDGER, "ledger", "--no-relay"], ledger_env, logs / "ledger.log"
                ) as ledger,
                process(
                    [HYPELEDGER, "ingress", "--workers", str(args.ingress_workers)],
                    ingress_env,
                    logs / "ingress.log",
                ) as ingress,
            ):
                await wait_ready(
                    f"http://127.0.0.1:{ledger_port}/readyz", ledger, logs / "ledger.log"
                )
                await wait_ready(f"{url}/readyz", ingress, logs / "ingress.log")
                users = await create_players(settings, dsn, args.users)
                users_file = logs / "users.txt"
                users_file.write_text("\n".join(users))
                load = [PY, "-m", "bench.ingress_load", "--url", url, "--key", key,
                        "--users", str(users_file)]  # fmt: skip
                pids = {"ingress": ingress.pid, "ledger": ledger.pid, **broker}
                runs = await load_runs(load, rates, args, env, pids)
                report["webhooks"] = runs
                report["peak_rss_mb"] = {
                    "ingress": peak_rss_mb(ingress.pid),
                    "ledger": peak_rss_mb(ledger.pid),
                    **{name: peak_rss_mb(pid) for name, pid in broker.items()},
                    "load_generator": max(r["peak_rss_mb"] for r in runs),
                }
                answered_200 = sum(r["statuses"].get("200", 0) for r in runs)
                report["exactly_once"] = {
                    "answered_200": answered_200,
                    "bets_in_ledger": await applied_bets(dsn, users),
                }
    report["load_avg_1m_after"] = round(os.getloadavg()[0], 2)
    return report


def markdown(report: dict[str, Any]) -> str:
    """The report as the tables ``docs/benchmarks.md`` shows."""
    lines = [
        f"Run {report['started_at']}, {report['cpus']} CPUs, 1-minute load "
        f"{report['load_avg_1m_before']} before / {report['load_avg_1m_after']} after. "
        f"Ingress: {report['server']}.",
        "",
        "| what | offered | answered/s | p50 ms | p99 ms | statuses | CPU ms per request |",
        "|---|---|---|---|---|---|---|",
    ]
    sections = (
        ("broker floor (ping-pong)", "floor"),
        ("ingress + echo ledger", "ingress_with_echo_ledger"),
        ("end to end (ingress + ledger)", "webhooks"),
    )
    for title, key in sections:
        for run in report.get(key, []):
            statuses = ", ".join(f"{k}: {v}" for k, v in sorted(run.get("statuses", {}).items()))
            cpu = ", ".join(f"{k} {v}" for k, v in run.get("cpu_ms_per_request", {}).items())
            lines.append(
                f"| {title} | {run['mode']} | {run['throughput_per_s']} | {run['p50_ms']} "
                f"| {run['p99_ms']} | {statuses or '-'} | {cpu} |"
            )
    rss = ", ".join(f"{k} {v} MB" for k, v in report.get("peak_rss_mb", {}).items())
    once = report.get("exactly_once", {})
    lines += [
        "",
        f"Peak RSS: {rss}; ingress with the echo ledger "
        f"{report.get('peak_rss_mb_ingress_with_echo')} MB.",
        f"Exactly once: {once.get('answered_200')} bets answered 200, "
        f"{once.get('bets_in_ledger')} bets in the ledger.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="500,1000,2000")
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--full-count", type=int, default=20_000)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--ingress-workers", type=int, default=1)
    parser.add_argument(
        "--no-ledger", action="store_true", help="only the floor and the ingress with an echo"
    )
    parser.add_argument("--fetch-max-wait-ms", type=int, default=10)
    parser.add_argument("--out", default="", help="also write the JSON report to this file")
    args = parser.parse_args(argv)
    report = asyncio.run(bench(args))
    text = json.dumps(report, indent=2)
    print(text)
    print(markdown(report))
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
