"""End-to-end benchmark of the ingress: signed webhooks -> ingress -> broker -> ledger -> answer.

One run, every part a process of its own: the broker and Postgres (``shared.infra.stack``), the
ledger (``hypeledger ledger``), the ingress (``hypeledger ingress``), the load generator
(``bench.ingress_load``), and for the floor an echo responder and a requester
(``bench.ingress_floor``). Reports throughput and p50/p99 at fixed rates (open loop, 256
connections) and at full speed (128 requests in flight), the broker's request-reply floor measured
in the same run, the CPU each process (Postgres and the load generator included) spent per
answered webhook, each process's peak RSS, the machine's load, and checks that every answered bet
was applied exactly once.

    .venv/bin/python -m bench ingress --rates 500,1000,2000 --duration 15
    .venv/bin/python -m bench ingress --runs ledger --rates 500   # end to end only
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench.ingress_stats import MEASURING
from bench.ledger import stack_servers
from bench.ledger_history import seed_history
from bench.profiles import cpu_summary
from shared.contracts.commands import OperatorCommand, OperatorKind
from shared.contracts.topics import COMMANDS, COMMANDS_DLQ, TRANSACTIONS
from shared.db.databases import create_database, drop_database
from shared.db.migrate import migrate
from shared.infra.processes import free_port, stop_group, tail
from shared.infra.reaper import Reaper
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
        with contextlib.suppress(OSError):  # a thread or process that ended meanwhile
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
def process(
    argv: list[str], env: dict[str, str], log: Path, reaper: Reaper
) -> Iterator[subprocess.Popen[bytes]]:
    """A child in a process group of its own, stopped on exit, and by ``reaper`` if this
    process dies first (a benchmark killed half-way leaves no ledger or ingress behind)."""
    with log.open("wb") as out:
        child = subprocess.Popen(argv, env=env, stdout=out, stderr=out, start_new_session=True)
    reaper.watch(child.pid, signal.SIGTERM)
    try:
        yield child
    finally:
        stop_group(child.pid, grace_s=10)
        child.wait(timeout=15)
        reaper.forget(child.pid)


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


def cpu_ticks(stat: Path) -> int:
    """User + system clock ticks from a process's or a thread's ``/proc`` ``stat`` file (0 when it
    has ended)."""
    with contextlib.suppress(OSError):
        fields = stat.read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds ``pid`` and its live descendants have used so far."""
    total = sum(cpu_ticks(Path(f"/proc/{member}/stat")) for member in family(pid))
    return total / os.sysconf("SC_CLK_TCK")


#: What HotSpot names its JIT compiler threads (the kernel keeps 15 characters of a name).
JIT_THREADS = ("C1 CompilerThre", "C2 CompilerThre")
#: A load process still running after this long is killed.
LOAD_TIMEOUT_S = 900.0
#: A warm-up slice's seconds, and the share of a CPU the broker's JIT compiler threads may use in
#: one for the broker to count as warm (``Bench.warm_up``).
WARM_SLICE_S = 5.0
JIT_QUIET = 0.02


def jit_cpu_seconds(pid: int) -> float:
    """CPU seconds the JIT compiler threads of ``pid`` have used so far (0 outside a JVM)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            if (task / "comm").read_text().startswith(JIT_THREADS):
                total += cpu_ticks(task / "stat")
    return total / os.sysconf("SC_CLK_TCK")


def jit_share(run: dict[str, Any]) -> float:
    """The share of a CPU the JIT compilers of a run's processes used over its measured phase
    (from the raw seconds: a run that answered nothing still shows its compiling)."""
    jit_s: dict[str, float] = run.get("jit_s", {})
    return round(sum(jit_s.values()) / max(float(run.get("measured_s", 0.0)), 0.001), 3)


def run_json(
    argv: list[str],
    env: dict[str, str],
    pids: dict[str, int],
    counters: Callable[[], dict[str, float]] | None = None,
    on_phase: Callable[[bool], None] = lambda _starting: None,
) -> dict[str, Any]:
    """Run a load process; add the CPU per answered request that each of ``pids`` (with its
    live descendants: Postgres' backends, so measure while the ledger's pool is open) spent during
    its measured phase (from its ``measuring`` line to its exit), and its own over that phase
    (``client``). A JVM's compiler threads are counted in its process and also apart
    (``jit_ms_per_request``): a broker started minutes ago is still compiling, one that has run
    for days is not.

    Start-up is left out: the load process's imports (0.6 s of CPU, which was 0.15 ms a request at
    500/s for 8 s while it was counted), its prepared requests, and its Kafka clients' start-up
    at the broker. The report is the last line of its output that is a JSON object.

    ``counters`` (a service's counters, read at the same two moments) adds their growth over the
    measured phase as ``counted``. ``on_phase(True)`` is called as the phase starts, before its
    CPU is read, and ``on_phase(False)`` after its end is read."""

    def cpu_now() -> tuple[dict[str, float], dict[str, float]]:
        return (
            {name: cpu_seconds(pid) for name, pid in pids.items()},
            {name: jit_cpu_seconds(pid) for name, pid in pids.items()},
        )

    timed_out = threading.Event()

    def kill_after_timeout(child: subprocess.Popen[bytes]) -> None:
        timed_out.set()
        child.kill()

    with tempfile.TemporaryFile() as err_file:
        child = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=err_file)
        assert child.stdout is not None  # a pipe was asked for
        watchdog = threading.Timer(LOAD_TIMEOUT_S, kill_after_timeout, (child,))
        watchdog.start()
        try:
            started = False
            for line in child.stdout:  # what the process logs before its clock starts
                if line.decode(errors="replace").strip() == MEASURING:
                    started = True
                    break
            on_phase(True)
            before, jit_before = cpu_now()
            counted_before = counters() if counters else {}
            clock = time.monotonic()
            out = child.stdout.read()
            child.wait()
        except BaseException:
            child.kill()
            child.wait()
            raise
        finally:
            watchdog.cancel()
        after, jit_after = cpu_now()
        measured_s = time.monotonic() - clock
        counted_after = counters() if counters else {}
        on_phase(False)
        err_file.seek(0)
        stderr = err_file.read().decode(errors="replace")
    if timed_out.is_set():
        raise RuntimeError(f"{argv[2]} was killed after {LOAD_TIMEOUT_S:g} s:\n{stderr[-3000:]}")
    if child.returncode != 0 or not started:
        raise RuntimeError(f"{argv[2]} failed (exit {child.returncode}):\n{stderr[-3000:]}")
    reports = [line for line in out.decode().splitlines() if line.startswith("{")]
    result: dict[str, Any] = json.loads(reports[-1])
    answered = max(1, int(result["answered"]))

    def per_request(seconds: float) -> float:
        return round(seconds / answered * 1000, 3)

    result["cpu_ms_per_request"] = {
        name: per_request(after[name] - before[name]) for name in before
    } | {"client": per_request(float(result.pop("cpu_s")))}
    # A JVM may end a compiler thread it started on demand, taking its CPU out of the sum.
    jit_s = {
        name: max(0.0, jit_after[name] - jit_before[name])
        for name in jit_before
        if jit_after[name] > 0
    }
    result |= {
        "jit_ms_per_request": {name: per_request(seconds) for name, seconds in jit_s.items()},
        "jit_s": {name: round(seconds, 3) for name, seconds in jit_s.items()},
        "measured_s": round(measured_s, 3),
    }
    if counted_before and counted_after:  # either read failed: no counts rather than wrong ones
        result["counted"] = {
            name: value - counted_before.get(name, 0.0) for name, value in counted_after.items()
        }
    result["load_avg_1m_after"] = round(os.getloadavg()[0], 2)
    return result


#: The variable that holds the token guarding services' ``/metrics``, when one is set.
METRICS_TOKEN_VARIABLE = "HYPELEDGER_METRICS_TOKEN"  # noqa: S105 - its name, not a secret
#: The ledger's counters of its batches (``services/ledger/metrics.py``): how many batches
#: (one or several partitions' commands decided and committed together), how many commands in
#: them, and the time spent deciding and committing them.
BATCH_COUNTERS = re.compile(
    r"^hypeledger_ledger_(batch_size_count|batch_size_sum|apply_seconds_sum) (\S+)$", re.M
)


def ledger_batch_counters(metrics_ports: list[int], token: str | None) -> dict[str, float]:
    """The batch counters of every ledger process, summed (a ledger with no batch yet: zeros).

    A read that fails leaves the run without them (an empty result), never without its figures.
    """
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    total: dict[str, float] = {}
    try:
        for port in metrics_ports:
            answer = httpx.get(f"http://127.0.0.1:{port}/metrics", headers=headers, timeout=5)
            answer.raise_for_status()
            for match in BATCH_COUNTERS.finditer(answer.text):
                total[match.group(1)] = total.get(match.group(1), 0.0) + float(match.group(2))
    except httpx.HTTPError as exc:
        print(f"the ledger's batch counters could not be read: {exc!r}", file=sys.stderr)
        return {}
    return total


def batch_cycle(run: dict[str, Any]) -> str | None:
    """The ledger's batches over a run's measured phase, in words (None without counters)."""
    counted = run.get("counted", {})
    batches = counted.get("batch_size_count", 0.0)
    if not batches:
        return None
    measured_s = max(float(run["measured_s"]), 0.001)
    ledgers = [v for k, v in run["cpu_ms_per_request"].items() if k.startswith("ledger")]
    ledger_cpu_s = sum(ledgers) * max(1, int(run["answered"])) / 1000
    busy = counted["apply_seconds_sum"] / measured_s / max(1, len(ledgers))
    return (
        f"{run['mode']}: {batches / measured_s:.1f} batches/s of {counted['batch_size_sum'] / batches:.2f}"
        f" commands, {1000 * counted['apply_seconds_sum'] / batches:.2f} ms each to decide and"
        f" commit ({busy:.2f} of the time{' of each ledger' if len(ledgers) > 1 else ''}),"
        f" ledger CPU {1000 * ledger_cpu_s / batches:.2f} ms per batch"
    )


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


@dataclass
class Bench:
    """What every run shares: the stack, the database, the key, the players, the log folder."""

    args: argparse.Namespace
    stack: Stack
    dsn: str
    key: str
    logs: Path
    users_file: Path
    broker: dict[str, int]
    """``{"broker": pid}`` when this run started the broker (else empty: it is measured nowhere)."""
    postgres: int | None
    reaper: Reaper

    def env(self, prefix: str) -> dict[str, str]:
        return {
            **os.environ,
            "HYPELEDGER_ENVIRONMENT": "production",
            "HYPELEDGER_DATABASE_URL": self.dsn,
            "HYPELEDGER_KAFKA_BOOTSTRAP_SERVERS": self.stack.kafka_bootstrap_servers,
            "HYPELEDGER_KAFKA_FLAVOUR": self.stack.kafka_flavour.value,
            **(
                {"HYPELEDGER_KAFKA_FETCH_MAX_WAIT_MS": str(self.args.fetch_max_wait_ms)}
                if self.args.fetch_max_wait_ms
                else {}
            ),
            "HYPELEDGER_KAFKA_SESSION_TIMEOUT_MS": "3000",
            "HYPELEDGER_KAFKA_HEARTBEAT_INTERVAL_MS": "500",
            "HYPELEDGER_TOPIC_PREFIX": prefix,
            "HYPELEDGER_CONSUMER_GROUP": f"{prefix}ledger",
            # one signing key for every process of the run (production refuses to start without)
            "HYPELEDGER_COMMAND_KEY_ID": "bench",
            "HYPELEDGER_COMMAND_KEY": self.key,
            "HYPELEDGER_COMMAND_VERIFY_KEYS": json.dumps({"bench": self.key}),
            "HYPELEDGER_LOG_FORMAT": "json",
        }

    def settings(self, prefix: str) -> CommonSettings:
        return CommonSettings(
            environment="development",
            kafka_bootstrap_servers=self.stack.kafka_bootstrap_servers,
            kafka_flavour=self.stack.kafka_flavour,
            kafka_fetch_max_wait_ms=self.args.fetch_max_wait_ms,
            topic_prefix=prefix,
            # the run's one signing key, as the processes of self.env() have it
            command_key_id="bench",
            command_key=self.key,
            command_verify_keys={"bench": self.key},
        )

    async def fresh_topics(self) -> str:
        """A new topic prefix with its topics created, so every run starts on empty topics
        (Tansu's fetch cost grows with the number of batches in a partition)."""
        prefix = f"b{uuid.uuid4().hex[:8]}."
        partitions = self.args.partitions
        await ensure_topics(
            self.settings(prefix), {COMMANDS: partitions, COMMANDS_DLQ: 1, TRANSACTIONS: partitions}
        )
        return prefix

    def fetch_wait_argv(self) -> list[str]:
        wait = self.args.fetch_max_wait_ms
        return ["--fetch-max-wait-ms", str(wait)] if wait else []

    def load_argv(self, url: str, rate: float, duration: float) -> list[str]:
        argv = [PY, "-m", "bench.ingress_load", "--url", url, "--key", self.key,
                "--users", str(self.users_file), "--rate", str(rate)]  # fmt: skip
        if rate:
            return [*argv, "--duration", str(duration),
                    "--connections", str(self.args.open_loop_connections)]  # fmt: skip
        return [*argv, "--count", str(self.args.full_count),
                "--connections", str(self.args.connections)]  # fmt: skip

    async def warm_up(self, first_s: float, at_most_s: float) -> dict[str, Any]:
        """Unmeasured ping-pong at 1000/s until a fresh broker runs as one that has run for days.

        A JVM compiles its hot code for the first minute or more of traffic: measured on Apache
        Kafka 4.1 in 5 s slices of ping-pong at 1000/s, its compiler threads took 0.6 of a CPU
        through the first five slices (about 37 s with their set-up) and a hundredth in the tenth
        (about 75 s), and the bare ping-pong's p99 fell from 139 to 24 ms meanwhile.

        ``first_s`` seconds, then slices of ``WARM_SLICE_S`` until the compiler threads used at
        most ``JIT_QUIET`` of a CPU in one (at once on Tansu, which has none), or another slice
        as long as the last would end after ``at_most_s``. The results are kept apart from the
        measured runs.
        """
        started = time.monotonic()
        slices = [await self.floor_run(1000.0, first_s)]
        shares = [jit_share(slices[-1])]
        took = time.monotonic() - started  # a slice's wall time, its set-up included
        while shares[-1] > JIT_QUIET and time.monotonic() - started + took <= at_most_s:
            slice_started = time.monotonic()
            slices.append(await self.floor_run(1000.0, WARM_SLICE_S))
            shares.append(jit_share(slices[-1]))
            took = time.monotonic() - slice_started
        return {
            "seconds": round(time.monotonic() - started, 1),
            "slices": len(slices),
            "jit_cpu_share": shares,
            "quiet": shares[-1] <= JIT_QUIET,
            "last": slices[-1],
        }

    async def floor_run(self, rate: float, duration: float) -> dict[str, Any]:
        prefix = await self.fresh_topics()
        floor = ["--bootstrap", self.stack.kafka_bootstrap_servers, "--prefix", prefix,
                 "--flavour", self.stack.kafka_flavour.value,
                 *self.fetch_wait_argv()]  # fmt: skip
        env = self.env(prefix)
        with process([PY, "-m", "bench.ingress_floor", "respond", *floor], env,
                     self.logs / f"{prefix}responder.log", self.reaper) as responder:  # fmt: skip
            await asyncio.sleep(1.0)
            argv = [PY, "-m", "bench.ingress_floor", "request", *floor, "--rate", str(rate)]
            argv += (
                ["--duration", str(duration)]
                if rate
                else [
                    "--count",
                    str(self.args.full_count),
                    "--in-flight",
                    str(self.args.connections),
                ]
            )
            return run_json(argv, env, {"responder": responder.pid, **self.broker})

    async def ingress_run(self, rate: float, duration: float, *, ledger: bool) -> dict[str, Any]:
        """One load run against a fresh ingress and a fresh ledger (or echo) on fresh topics."""
        prefix = await self.fresh_topics()
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = self.env(prefix)
        ingress_env = {**env, "HYPELEDGER_PORT": str(port), "HYPELEDGER_PUBLIC_BASE_URL": url,
                       "HYPELEDGER_HYPETECH_API_KEYS": self.key}  # fmt: skip
        label = f"{'ledger' if ledger else 'echo'}-{f'{rate:g}' if rate else 'full'}-{prefix}"
        ledger_args = ["ledger", *([] if self.args.relay else ["--no-relay"])]
        if not ledger:
            backend_argv = [PY, "-m", "bench.ingress_floor", "respond", "--bootstrap",
                            self.stack.kafka_bootstrap_servers, "--prefix", prefix,
                            "--flavour", self.stack.kafka_flavour.value,
                            *self.fetch_wait_argv()]  # fmt: skip
        name = "ledger" if ledger else "responder"
        # --ledgers N: N ledger processes in one consumer group, sharing the partitions
        names = [name] + [f"{name}{n}" for n in range(2, (self.args.ledgers if ledger else 1) + 1)]
        ingress_args = ["ingress", "--workers", str(self.args.ingress_workers)]
        ingress_argv = self.hypeledger(ingress_args, f"{label}ingress")
        with contextlib.ExitStack() as started:
            backends: dict[str, subprocess.Popen[bytes]] = {}
            metrics_ports: list[int] = []
            for each in names:
                metrics_port = free_port()
                metrics_ports.append(metrics_port)
                backend_env = {**env, "HYPELEDGER_METRICS_PORT": str(metrics_port),
                               "HYPELEDGER_RELAY_METRICS_PORT": str(free_port())}  # fmt: skip
                log = self.logs / f"{prefix}{each}.log"
                argv = self.hypeledger(ledger_args, f"{label}{each}") if ledger else backend_argv
                backends[each] = started.enter_context(process(argv, backend_env, log, self.reaper))
                if ledger:
                    await wait_ready(f"http://127.0.0.1:{metrics_port}/readyz", backends[each], log)
            ingress = started.enter_context(
                process(ingress_argv, ingress_env, self.logs / f"{prefix}ingress.log", self.reaper)
            )
            await wait_ready(f"{url}/readyz", ingress, self.logs / f"{prefix}ingress.log")
            pids = {each: child.pid for each, child in backends.items()}
            profiled = {"ingress": ingress.pid, **(pids if ledger else {})}
            cpu_profiles = (
                CpuProfiles(self.args.cpu_profile, label, profiled)
                if self.args.cpu_profile
                else None
            )
            with profiles(self.args.profile, {"ingress": ingress.pid, **pids}, label):
                result = run_json(
                    self.load_argv(url, rate, duration),
                    env,
                    {"ingress": ingress.pid, **pids, **self.broker}
                    | ({"postgres": self.postgres} if ledger and self.postgres else {}),
                    (lambda: ledger_batch_counters(metrics_ports, env.get(METRICS_TOKEN_VARIABLE)))
                    if ledger
                    else None,
                    cpu_profiles or (lambda _starting: None),
                )
            if cpu_profiles is not None:
                result["cpu_profiled_share"] = cpu_profiles.shares(result)
            result["peak_rss_mb_by_process"] = {
                "ingress": peak_rss_mb(ingress.pid),
                **{each: peak_rss_mb(pid) for each, pid in pids.items()},
                **{broker: peak_rss_mb(pid) for broker, pid in self.broker.items()},
            }
        return result

    def hypeledger(self, args: list[str], profile_as: str) -> list[str]:
        """``hypeledger ARGS``; under yappi's CPU clock when ``--cpu-profile`` is given, written
        to ``<folder>/<profile_as>.pstat`` (``bench/cpu_profiled.py``)."""
        if not self.args.cpu_profile:
            return [HYPELEDGER, *args]
        out = cpu_profile_path(self.args.cpu_profile, profile_as)
        return [PY, "-m", "bench.cpu_profiled", str(out), "services.cli.main:main", *args]

    async def runs(self, rates: list[float], kind: str) -> list[dict[str, Any]]:
        """Each fixed rate, then full speed (rate 0), each on fresh topics and processes."""
        results = []
        for rate in [*rates, 0.0]:
            if kind == "floor":
                result = await self.floor_run(rate, self.args.duration)
            else:
                result = await self.ingress_run(rate, self.args.duration, ledger=kind == "ledger")
            result["load_avg_1m_after"] = round(os.getloadavg()[0], 2)
            results.append(result)
        return results


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    report: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "load_avg_1m_before": round(os.getloadavg()[0], 2),
        "server": f"uvicorn (uvloop, httptools), {args.ingress_workers} worker process(es)",
        "ledgers": args.ledgers,
        "relay": args.relay,
        "profiled": {"py-spy": bool(args.profile), "yappi": bool(args.cpu_profile)},
    }
    reaper = Reaper()
    try:
        async with local_stack() as stack, bench_database(stack) as dsn:
            await _bench(args, report, stack=stack, dsn=dsn, reaper=reaper)
    finally:
        reaper.close()
    report["load_avg_1m_after"] = round(os.getloadavg()[0], 2)
    return report


async def _bench(
    args: argparse.Namespace, report: dict[str, Any], *, stack: Stack, dsn: str, reaper: Reaper
) -> None:
    """The runs ``args.runs`` asks for, their results added to ``report``."""
    rates = [float(rate) for rate in args.rates.split(",") if rate]
    logs = Path(tempfile.mkdtemp(prefix="hypeledger-bench-"))
    report["logs"] = str(logs)
    servers = stack_servers(stack)
    run = Bench(
        args, stack, dsn, secrets.token_hex(24), logs, logs / "users.txt",
        {role: pid for role, pid in servers.items() if role == "broker"},
        servers.get("postgres"), reaper,
    )  # fmt: skip
    if args.warm_up:
        report["warm_up"] = await run.warm_up(args.warm_up, args.warm_up_max)
    if "floor" in args.runs:
        report["floor"] = await run.runs(rates, "floor")
    if "echo" in args.runs:
        run.users_file.write_text("\n".join(f"echo-{n}" for n in range(args.users)))
        report["ingress_with_echo_ledger"] = await run.runs(rates, "echo")
    if "ledger" in args.runs:
        if args.history_days:
            history = await seed_history(dsn, args.history_days, args.history_per_day)
            report["history"] = {
                "days": args.history_days,
                "bets": history.transactions,
                "seed_s": round(history.seconds, 1),
                "database_mb": round(history.database_mb),
            }
        prefix = await run.fresh_topics()
        metrics_port = free_port()
        env = {**run.env(prefix), "HYPELEDGER_METRICS_PORT": str(metrics_port),
               "HYPELEDGER_RELAY_METRICS_PORT": str(free_port())}  # fmt: skip
        with process(
            [HYPELEDGER, "ledger", "--no-relay"], env, logs / "setup-ledger.log", run.reaper
        ) as ledger:
            await wait_ready(
                f"http://127.0.0.1:{metrics_port}/readyz", ledger, logs / "setup-ledger.log"
            )
            users = await create_players(run.settings(prefix), dsn, args.users)
        run.users_file.write_text("\n".join(users))
        runs = await run.runs(rates, "ledger")
        report["webhooks"] = runs
        answered_200 = sum(r["statuses"].get("200", 0) for r in runs)
        report["exactly_once"] = {
            "answered_200": answered_200,
            "bets_in_ledger": await applied_bets(dsn, users),
        }


@contextlib.contextmanager
def profiles(folder: str, pids: dict[str, int], prefix: str) -> Iterator[None]:
    """Sample each of ``pids`` with py-spy while the block runs (when ``folder`` is given): one
    collapsed-stack file per process, summarised by ``python -m bench.profiles``."""
    if not folder:
        yield
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    spy = str(Path(PY).with_name("py-spy"))
    samplers = []
    for name, pid in pids.items():
        argv = [spy, "record", "--pid", str(pid), "--format", "raw", "--rate", "250"]
        argv += ["--nonblocking", "--output", str(Path(folder) / f"{prefix}{name}.txt")]
        samplers.append(
            subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        )
    try:
        yield
    finally:
        for sampler in samplers:
            sampler.send_signal(signal.SIGINT)
        for sampler in samplers:
            sampler.wait(timeout=30)


def cpu_profile_path(folder: str, name: str) -> Path:
    return Path(folder) / f"{name}.pstat"


class CpuProfiles:
    """The CPU profiles of a run's processes (run by ``bench.cpu_profiled``), over its measured
    phase only: ``run_json`` calls it with True as the phase starts (the counts are cleared)
    and with False as it ends (each process writes ``<folder>/<label><name>.pstat``)."""

    def __init__(self, folder: str, label: str, pids: dict[str, int]) -> None:
        Path(folder).mkdir(parents=True, exist_ok=True)
        self.pids = pids
        self.paths = {name: cpu_profile_path(folder, f"{label}{name}") for name in pids}

    def __call__(self, starting: bool) -> None:
        if starting:
            for pid in self.pids.values():
                os.kill(pid, signal.SIGUSR1)
            return
        for name, pid in self.pids.items():
            self.paths[name].unlink(missing_ok=True)
            os.kill(pid, signal.SIGUSR2)
        deadline = time.monotonic() + 60
        while not all(path.exists() for path in self.paths.values()):  # each one's handler
            if time.monotonic() > deadline:
                raise RuntimeError(f"no CPU profile written: {list(self.paths.values())}")
            time.sleep(0.1)

    def shares(self, result: dict[str, Any]) -> dict[str, float]:
        """Of each process's CPU over the phase (from ``/proc``), the share its profile counted
        (yappi counts time in Python frames only; its own bookkeeping is not in them either)."""
        answered = max(1, int(result["answered"]))
        shares = {}
        for name, path in self.paths.items():
            proc_s = result["cpu_ms_per_request"][name] * answered / 1000
            shares[name] = round(cpu_summary(path)[0] / proc_s, 2) if proc_s else 0.0
        return shares


def markdown(report: dict[str, Any]) -> str:
    """The report as the tables ``docs/benchmarks.md`` shows."""
    lines = [
        f"Run {report['started_at']}, {report['cpus']} CPUs, 1-minute load "
        f"{report['load_avg_1m_before']} before / {report['load_avg_1m_after']} after. "
        f"Ingress: {report['server']}; ledger: {report.get('ledgers', 1)} process(es)"
        f"{', with the outbox relay' if report.get('relay') else ''}.",
    ]
    if warm := report.get("warm_up"):
        lines.append(
            f"Warm-up: {warm['seconds']} s of ping-pong in {warm['slices']} part(s); the broker's"
            f" JIT compiler used {warm['jit_cpu_share'][-1]} of a CPU in the last"
            f"{'' if warm['quiet'] else ' (not yet quiet: --warm-up-max was reached)'}."
        )
    lines += [
        "",
        "| what | offered | answered/s | p50 ms | p99 ms | p99.9 ms | statuses | CPU ms per request |",
        "|---|---|---|---|---|---|---|---|",
    ]
    sections = (
        ("broker floor (ping-pong)", "floor"),
        ("ingress + echo ledger", "ingress_with_echo_ledger"),
        ("end to end (ingress + ledger)", "webhooks"),
    )
    for title, key in sections:
        for run in report.get(key, []):
            statuses = ", ".join(f"{k}: {v}" for k, v in sorted(run.get("statuses", {}).items()))
            jit = run.get("jit_ms_per_request", {})
            cpu = ", ".join(
                f"{k} {v}" + (f" (JIT {jit[k]})" if k in jit else "")
                for k, v in run.get("cpu_ms_per_request", {}).items()
            )
            lines.append(
                f"| {title} | {run['mode']} | {run['throughput_per_s']} | {run['p50_ms']} "
                f"| {run['p99_ms']} | {run.get('p999_ms', '-')} | {statuses or '-'} | {cpu} |"
            )
    peaks: dict[str, float] = {}
    for key in ("ingress_with_echo_ledger", "webhooks"):
        for run in report.get(key, []):
            for name, value in run.get("peak_rss_mb_by_process", {}).items():
                peaks[name] = max(peaks.get(name, 0.0), value or 0.0)
    loadgen = max(
        (
            r["peak_rss_mb"]
            for k in ("ingress_with_echo_ledger", "webhooks")
            for r in report.get(k, [])
        ),
        default=0,
    )
    rss = ", ".join(f"{k} {v} MB" for k, v in peaks.items())
    cycles = [line for run in report.get("webhooks", []) if (line := batch_cycle(run))]
    if cycles:
        lines += ["", "The ledger's batches (end to end): " + "; ".join(cycles) + "."]
    profiled = [p for p, on in report.get("profiled", {}).items() if on]
    if profiled:
        counted = [
            f"{run['mode']}: " + ", ".join(f"{k} {v}" for k, v in run["cpu_profiled_share"].items())
            for run in report.get("webhooks", [])
            if "cpu_profiled_share" in run
        ]
        lines += ["", f"Profiled with {' and '.join(profiled)}: every CPU and latency figure above"
                  " includes the profiler's own cost."]  # fmt: skip
        if counted:
            lines.append(
                "Share of each process's CPU its yappi profile counted: " + "; ".join(counted) + "."
            )
    once = report.get("exactly_once", {})
    if "history" in report:
        h = report["history"]
        lines += ["", f"History seeded first: {h['bets']} bets over {h['days']} days in"
                  f" {h['seed_s']} s; database {h['database_mb']} MB."]  # fmt: skip
    lines += [
        "",
        f"Peak RSS over all runs: {rss}; load generator {loadgen} MB.",
        f"Exactly once: {once.get('answered_200')} bets answered 200, "
        f"{once.get('bets_in_ledger')} bets in the ledger.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="500,1000,2000")
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--full-count", type=int, default=20_000)
    parser.add_argument(
        "--connections", type=int, default=128, help="requests in flight at full speed"
    )
    parser.add_argument(
        "--open-loop-connections",
        type=int,
        default=256,
        help="connections sending at a fixed rate, each one request at a time (enough that a "
        "slow answer never holds back the next due request)",
    )
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument(
        "--ingress-workers", type=int, default=1, help="ingress processes (uvicorn workers)"
    )
    parser.add_argument(
        "--ledgers",
        type=int,
        default=1,
        help="ledger processes in the end-to-end runs (one consumer group sharing the partitions)",
    )
    parser.add_argument(
        "--relay",
        action="store_true",
        help="run the outbox relay in each ledger process, as `hypeledger ledger` does by default: "
        "every webhook's event is also published to wallet.transactions.v1",
    )
    parser.add_argument(
        "--runs",
        type=lambda text: set(text.split(",")),
        default={"floor", "echo", "ledger"},
        help="which of floor,echo,ledger to run (comma separated; default all three)",
    )
    parser.add_argument(
        "--fetch-max-wait-ms",
        type=int,
        default=None,
        help="consumers' fetch wait (default: the broker profile's, 100 on Kafka, 20 on Tansu)",
    )
    parser.add_argument(
        "--history-days",
        type=int,
        default=0,
        help="seed this many days of history in the database before the end-to-end runs"
        " (bench/ledger_history.py), to measure them on a database that has grown",
    )
    parser.add_argument("--history-per-day", type=int, default=5000)
    parser.add_argument("--out", default="", help="also write the JSON report to this file")
    parser.add_argument(
        "--warm-up",
        type=float,
        default=15.0,
        help="seconds of unmeasured broker ping-pong at 1000/s before the first measured run,"
        " then more until the broker's JIT compiler is quiet (0: none)",
    )
    parser.add_argument(
        "--warm-up-max",
        type=float,
        default=180.0,
        help="seconds the warm-up may take, quiet or not (no slice starts that would end later)",
    )
    parser.add_argument(
        "--cpu-profile",
        default="",
        help="run the ingress and the ledger under yappi's CPU clock (bench/cpu_profiled.py) and"
        " write each one's profile of each end-to-end run's measured phase into this folder"
        " (<kind>-<rate>-<topic prefix><process>.pstat, e.g. ledger-100-b1a2b3c4.ledger.pstat);"
        " the profiler's own CPU is in the run's figures"
        " (summary: python -m bench.profiles FOLDER)",
    )
    parser.add_argument(
        "--profile",
        default="",
        help="sample the ingress and the ledger (or echo responder) with py-spy during each"
        " end-to-end or echo run into this folder, one file per run and process, named by the"
        " run's kind, rate and topics; py-spy's own CPU then shares the machine with the run"
        " (summary: python -m bench.profiles FOLDER)",
    )
    args = parser.parse_args(argv)
    if args.cpu_profile and args.ingress_workers > 1:
        parser.error("--cpu-profile profiles one ingress process: use --ingress-workers 1")
    report = asyncio.run(bench(args))
    text = json.dumps(report, indent=2)
    print(text)
    print(markdown(report))
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
