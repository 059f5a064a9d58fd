"""The demo, one function per step: infrastructure, services, players, sessions, rounds, checks,
reconciliation, summary. Services are child processes driven over HTTP; nothing of them is
imported here (only ``shared``)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import signal
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.live import Live
from rich.table import Table

from services.demo.checks import (
    Mismatch,
    balance_mismatches,
    count_classes,
    expected_findings,
    finding_mismatches,
    movement_mismatches,
    protection_mismatches,
    refusals,
)
from services.demo.processes import ServiceProcess, free_port, run_once
from shared.contracts.topics import COMMANDS, COMMANDS_DLQ, RECONCILIATION, TRANSACTIONS
from shared.db.databases import create_database, drop_database
from shared.db.migrate import migrate
from shared.infra.stack import describe, local_stack
from shared.kafka import delete_topics, ensure_topics, topics_starting_with
from shared.settings import BrokerFlavour, CommonSettings


@dataclass(frozen=True)
class RunSecrets:
    """Fresh per run: the webhook signing key, the simulator's and the operator API's tokens."""

    webhook_key: str = field(default_factory=lambda: secrets.token_hex(16))
    simulator_token: str = field(default_factory=lambda: secrets.token_hex(16))
    operator_token: str = field(default_factory=lambda: secrets.token_hex(16))


@dataclass(frozen=True)
class DemoOptions:
    players: int = 20
    rounds: int = 30
    generation: str = "v4"
    seed: int = 2026
    deposit: Decimal = Decimal("500.00")
    currency: str = "USD"
    game: str = "aviador"
    partitions: int = 4
    free_bets: int = 0
    """Free bets granted to every player through the operator API (0: none)."""
    free_bet_value: Decimal = Decimal("2.00")
    limited_players: int = 4
    """Players with a daily loss limit (the first ones), so the demo shows limit refusals."""
    loss_limit: Decimal = Decimal("10.00")
    excluded_players: int = 1
    """Players who self-exclude after their launch (the last ones): their bets are refused."""
    betting_window_s: Decimal = Decimal("0.2")
    faults: Mapping[str, Decimal] = field(
        default_factory=lambda: {
            "duplicate": Decimal("0.05"),
            "rollback_before_bet": Decimal("0.5"),
            "lost_reply": Decimal("0.03"),
            "drift": Decimal("0.02"),
            "wrong_rollback_amount": Decimal("0.3"),
        }
    )
    startup_timeout_s: float = 60.0
    keep_logs: bool = False


@dataclass
class Services:
    ingress: ServiceProcess
    ledger: ServiceProcess
    operator_api: ServiceProcess
    simulator: ServiceProcess
    common_env: dict[str, str]
    urls: dict[str, str]
    keys: RunSecrets
    exit_codes: dict[str, int | None] = field(default_factory=dict)

    def all(self) -> list[ServiceProcess]:
        return [self.ledger, self.ingress, self.operator_api, self.simulator]


@dataclass
class DemoResult:
    status: dict[str, Any] = field(default_factory=dict)
    truth: dict[str, Any] = field(default_factory=dict)
    mismatches: list[Mismatch] = field(default_factory=list)
    findings: list[dict[str, Any]] = field(default_factory=list)
    reconcile_report: dict[str, Any] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    fairness: str = ""
    run_dir: Path | None = None
    shutdown: dict[str, int | None] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    protection: str = ""

    @property
    def clean_shutdown(self) -> bool:
        """Every service stopped on SIGTERM within its grace period (uvicorn re-raises SIGTERM
        after its graceful shutdown, so -15 is a clean exit too; -9 means it had to be killed)."""
        return all(code in (0, -signal.SIGTERM) for code in self.shutdown.values())

    @property
    def ok(self) -> bool:
        return not self.mismatches and not self.missing and self.clean_shutdown


# -- step 1: infrastructure ------------------------------------------------------------------


@contextlib.asynccontextmanager
async def infrastructure(
    options: DemoOptions, env: Mapping[str, str], run_id: str
) -> AsyncIterator[tuple[dict[str, str], str]]:
    """Postgres and Apache Kafka (or its fallback) chosen from ``env`` as every stack is
    (``shared.infra.selection``), a fresh migrated database, the contract topics; yields the
    services' environment and a line naming the servers.

    The run's topics and the ledger's consumer group carry the run's own prefix
    (``demo-<run>.``): on servers that outlive a run (named in the environment), the next run's
    ledger would otherwise find the last run's commands on the topic and, its offsets being in
    the run's fresh database, apply them all again into it.
    """
    prefix = f"demo-{run_id}."
    async with local_stack(env) as stack:
        name = f"hypeledger_demo_{run_id}"
        dsn = await create_database(stack.database_admin_url, name)
        settings = CommonSettings(
            database_url=dsn,
            kafka_bootstrap_servers=stack.kafka_bootstrap_servers,
            kafka_flavour=BrokerFlavour(stack.kafka_flavour.value),
            topic_prefix=prefix,
        )
        try:
            await migrate(dsn)
            services_env = {
                "HYPELEDGER_ENVIRONMENT": "development",
                "HYPELEDGER_DATABASE_URL": dsn,
                "HYPELEDGER_KAFKA_BOOTSTRAP_SERVERS": stack.kafka_bootstrap_servers,
                "HYPELEDGER_KAFKA_FLAVOUR": stack.kafka_flavour.value,
                "HYPELEDGER_KAFKA_SESSION_TIMEOUT_MS": "3000",
                "HYPELEDGER_KAFKA_HEARTBEAT_INTERVAL_MS": "500",
                "HYPELEDGER_TOPIC_PREFIX": prefix,
                "HYPELEDGER_CONSUMER_GROUP": f"{prefix}hypeledger-ledger",
                "HYPELEDGER_LOG_FORMAT": "json",
            }
            await ensure_topics(
                settings,
                dict.fromkeys(
                    (COMMANDS, COMMANDS_DLQ, TRANSACTIONS, RECONCILIATION), options.partitions
                ),
            )
            yield services_env, describe(stack.plan)
        finally:
            with contextlib.suppress(Exception):
                await drop_database(stack.database_admin_url, name)
            with contextlib.suppress(Exception):
                await delete_topics_of_run(settings)


async def delete_topics_of_run(settings: CommonSettings) -> list[str]:
    """Delete every topic that carries the run's prefix: the contract topics and the services'
    reply topics (servers named in the environment keep nothing of a finished run but the
    ledger's consumer group, which the broker forgets once it has been empty for its offsets'
    retention)."""
    if not settings.topic_prefix:
        raise ValueError("a run's topics are told apart by their prefix; there is none")
    names = await topics_starting_with(settings, settings.topic_prefix)
    await delete_topics(settings, names)
    return names


# -- step 2: services ------------------------------------------------------------------------


def plan_services(
    options: DemoOptions, common: dict[str, str], run_dir: Path, base_env: Mapping[str, str]
) -> Services:
    ports = {
        name: free_port() for name in ("ingress", "operator_api", "simulator", "ledger", "relay")
    }
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    env = {**base_env, **common}
    keys = RunSecrets()

    def service(name: str, args: list[str], extra: dict[str, str], ready: str) -> ServiceProcess:
        return ServiceProcess(name, args, {**env, **extra}, ready, run_dir / f"{name}.log")

    sim_env = {
        "HYPELEDGER_SIMULATOR_PORT": str(ports["simulator"]),
        "HYPELEDGER_SIMULATOR_PUBLIC_BASE_URL": urls["simulator"],
        "HYPELEDGER_SIMULATOR_WEBHOOK_BASE_URL": urls["ingress"],
        "HYPELEDGER_SIMULATOR_WEBHOOK_API_KEY": keys.webhook_key,
        "HYPELEDGER_SIMULATOR_API_TOKEN": keys.simulator_token,
        "HYPELEDGER_SIMULATOR_GENERATION": options.generation,
        "HYPELEDGER_SIMULATOR_SEED": str(options.seed),
        "HYPELEDGER_SIMULATOR_BETTING_WINDOW_S": str(options.betting_window_s),
        "HYPELEDGER_SIMULATOR_LOG_FORMAT": "json",
    }
    sim_env.update(
        {f"HYPELEDGER_SIMULATOR_FAULT_{k.upper()}": str(v) for k, v in options.faults.items()}
    )
    return Services(
        ledger=service(
            "ledger",
            ["ledger"],
            {
                "HYPELEDGER_METRICS_PORT": str(ports["ledger"]),
                "HYPELEDGER_RELAY_METRICS_PORT": str(ports["relay"]),
            },
            urls["ledger"] + "/readyz",
        ),
        ingress=service(
            "ingress",
            ["ingress"],
            {
                "HYPELEDGER_PORT": str(ports["ingress"]),
                "HYPELEDGER_PUBLIC_BASE_URL": urls["ingress"],
                "HYPELEDGER_HYPETECH_API_KEYS": keys.webhook_key,
                "HYPELEDGER_INSTANCE_ID": "demo-ingress",
            },
            urls["ingress"] + "/readyz",
        ),
        operator_api=service(
            "operator-api",
            ["operator-api"],
            {
                "HYPELEDGER_PORT": str(ports["operator_api"]),
                "HYPELEDGER_OPERATOR_TOKENS": keys.operator_token,
                "HYPELEDGER_HYPETECH_BASE_URL": urls["simulator"],
                "HYPELEDGER_HYPETECH_API_TOKEN": keys.simulator_token,
                "HYPELEDGER_INSTANCE_ID": "demo-operator-api",
            },
            urls["operator_api"] + "/readyz",
        ),
        simulator=service("simulator", ["simulator"], sim_env, urls["simulator"] + "/readyz"),
        common_env=env,
        urls=urls,
        keys=keys,
    )


@contextlib.asynccontextmanager
async def running_services(services: Services, timeout_s: float) -> AsyncIterator[Services]:
    """Start every service, wait until each is ready, and stop them all on the way out."""
    try:
        for process in services.all():
            process.start()
        await asyncio.gather(*(process.wait_ready(timeout_s) for process in services.all()))
        yield services
    finally:
        for process in reversed(services.all()):
            services.exit_codes[process.name] = await asyncio.to_thread(process.stop)


# -- steps 3-4: players and sessions through the operator API ---------------------------------


def operator_client(services: Services) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=services.urls["operator_api"],
        headers={"Authorization": f"Bearer {services.keys.operator_token}"},
        timeout=30.0,
    )


async def create_players(api: httpx.AsyncClient, options: DemoOptions, run_id: str) -> list[str]:
    """Accounts with a deposit each; ids are unique per run."""
    users = [f"demo-{run_id}-{index:03d}" for index in range(options.players)]

    async def one(user: str) -> None:
        created = await api.post("/accounts", json={"user_id": user, "currency": options.currency})
        _expect(created, (200, 201), f"create account {user}")
        deposit = await api.post(
            f"/accounts/{user}/{options.currency}/deposits",
            json={"amount": str(options.deposit), "reason": "demo"},
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )
        _expect(deposit, (200, 201), f"deposit for {user}")

    await asyncio.gather(*(one(user) for user in users))
    return users


async def launch_sessions(
    api: httpx.AsyncClient, options: DemoOptions, users: list[str]
) -> dict[str, str]:
    """One game launch per player (the operator API calls the simulator's request-access)."""

    async def one(user: str) -> tuple[str, str]:
        launched = await api.post(
            "/sessions",
            json={
                "user_id": user,
                "game": options.game,
                "currency": options.currency,
                "username": user,
            },
        )
        _expect(launched, (200, 201), f"launch for {user}")
        return user, str(launched.json()["session_token"])

    return dict(await asyncio.gather(*(one(user) for user in users)))


async def grant_free_bets(
    api: httpx.AsyncClient, options: DemoOptions, users: list[str], run_id: str
) -> None:
    """Free bets through the operator API (which calls the simulator's Redeem Free Bet)."""
    expires = (datetime.now(UTC) + timedelta(hours=1)).isoformat()

    async def one(user: str) -> None:
        granted = await api.post(
            "/free-bets",
            json={
                "user_id": user,
                "currency": options.currency,
                "game": options.game,
                "quantity": options.free_bets,
                "value": str(options.free_bet_value),
                "expires_at": expires,
                "bonus_code": f"DEMO-{run_id}",
                "max_multiplier": "5.00",
            },
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )
        _expect(granted, (200, 201), f"free bets for {user}")

    await asyncio.gather(*(one(user) for user in users))


async def protect_players(
    api: httpx.AsyncClient, options: DemoOptions, users: list[str]
) -> tuple[dict[str, Decimal], list[str], list[Mismatch]]:
    """Daily loss limits for the first players, a self-exclusion for the last ones (after their
    launch: their bets come and are refused), and a launch refused for an excluded player
    without asking the provider."""
    limited = users[: options.limited_players]
    excluded = users[max(len(limited), len(users) - options.excluded_players) :]
    who = {"reason": "demo: player protection", "requested_by": "demo"}

    async def limit(user: str) -> None:
        answer = await api.put(
            f"/accounts/{user}/{options.currency}/limits",
            json={"limit": "loss", "period": "day", "amount": str(options.loss_limit), **who},
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )
        _expect(answer, (200,), f"loss limit for {user}")

    async def exclude(user: str) -> None:
        answer = await api.post(
            f"/accounts/{user}/{options.currency}/exclusion",
            json=who,
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )
        _expect(answer, (200,), f"self-exclusion of {user}")

    await asyncio.gather(*(limit(u) for u in limited), *(exclude(u) for u in excluded))
    mismatches = []
    for user in excluded[:1]:
        launched = await api.post(
            "/sessions",
            json={"user_id": user, "game": options.game, "currency": options.currency,
                  "username": user},
        )  # fmt: skip
        if launched.status_code != 403 or not launched.json()["type"].endswith(
            "/player-self-excluded"
        ):
            mismatches.append(
                Mismatch("protection", user, f"launch answered {launched.status_code}")
            )
    return dict.fromkeys(limited, options.loss_limit), excluded, mismatches


# -- step 5: play ----------------------------------------------------------------------------


def progress_table(status: Mapping[str, Any], rounds: int, elapsed_s: float) -> Table:
    table = Table(
        title=f"hypeledger demo: {status.get('generation', '?')} webhooks", show_header=False
    )
    sent = int(status.get("webhooks_sent", 0))
    rate = sent / elapsed_s if elapsed_s > 0 else 0.0
    table.add_row("rounds", f"{status.get('rounds_played', 0)} / {rounds}")
    table.add_row("webhooks", f"{sent}  ({rate:.0f}/s)")
    table.add_row(
        "latency p50 / p99",
        f"{status.get('latency_p50_ms')} ms / {status.get('latency_p99_ms')} ms",
    )
    table.add_row("HTTP statuses", _pairs(status.get("webhook_statuses", {})))
    table.add_row("outcomes", _pairs(status.get("outcomes", {})))
    table.add_row("faults injected", _pairs(status.get("faults", {})) or "none yet")
    return table


async def play(sim: httpx.AsyncClient, rounds: int, console: Console) -> dict[str, Any]:
    """Ask the simulator to play until it is done, its progress drawn live on a terminal only
    (piped, the demo writes only its steps and its summary)."""
    started = time.monotonic()
    accepted = await sim.post("/_sim/play", json={"rounds": rounds, "wait": False})
    _expect(accepted, (202,), "start playing")
    status: dict[str, Any] = accepted.json()
    live = (
        Live(progress_table(status, rounds, 0.0), console=console, refresh_per_second=4)
        if console.is_terminal
        else None
    )
    with live or contextlib.nullcontext():
        while status.get("playing", False) or status.get("rounds_played", 0) < rounds:
            await asyncio.sleep(0.25)
            status = (await sim.get("/_sim/status")).json()
            if live is not None:
                live.update(progress_table(status, rounds, time.monotonic() - started))
            if not status.get("playing") and status.get("rounds_played", 0) < rounds:
                raise RuntimeError(
                    f"the simulator stopped after {status.get('rounds_played')} rounds"
                )
    return status


# -- step 6: check against the truth -----------------------------------------------------------


async def ledger_state(
    api: httpx.AsyncClient, users: list[str], currency: str
) -> tuple[dict[tuple[str, str], str | None], list[dict[str, Any]]]:
    balances: dict[tuple[str, str], str | None] = {}
    rows: list[dict[str, Any]] = []
    for user in users:
        answer = await api.get(f"/accounts/{user}/{currency}/balance")
        balances[(user, currency)] = (
            answer.json().get("balance") if answer.status_code == 200 else None
        )
        cursor: str | None = None
        for _ in range(10_000):
            params = {"limit": "500", **({"cursor": cursor} if cursor else {})}
            page = await api.get(f"/accounts/{user}/{currency}/transactions", params=params)
            _expect(page, (200,), f"history of {user}")
            body = page.json()
            rows.extend(body["items"])
            cursor = body.get("next_cursor")
            if not cursor:
                break
    return balances, rows


# -- step 7: reconcile -------------------------------------------------------------------------


async def reconcile(services: Services) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    env = {
        **services.common_env,
        "HYPELEDGER_HYPETECH_BASE_URL": services.urls["simulator"],
        "HYPELEDGER_HYPETECH_API_TOKEN": services.keys.simulator_token,
        "HYPELEDGER_GRACE_PERIOD_S": "0",
    }
    code, out, err = await run_once(["reconcile", "--json"], env, timeout_s=120)
    if code != 0:
        raise RuntimeError(f"hypeledger reconcile failed ({code}):\n{err[-3000:]}")
    report = json.loads(out.strip().splitlines()[-1])
    api = {  # findings are read through the operator API, as an operator's script would
        "HYPELEDGER_OPERATOR_API_URL": services.urls["operator_api"],
        "HYPELEDGER_OPERATOR_TOKEN": services.keys.operator_token,
    }
    code, out, err = await run_once(
        ["findings", "--json", "--all", "--limit", "100000"], {**env, **api}, timeout_s=60
    )
    if code != 0:
        raise RuntimeError(f"hypeledger findings failed ({code}):\n{err[-3000:]}")
    return report, json.loads(out.strip().splitlines()[-1])


# -- step 8: provably fair -------------------------------------------------------------------


async def verify_fairness(services: Services, truth_path: Path) -> tuple[bool, str]:
    """Re-derive every round's crash point from its revealed seed; a changed seed must fail."""
    code, out, _ = await run_once(
        ["verify-fairness", "--export", str(truth_path)], services.common_env, 60
    )
    verified = out.strip().splitlines()[-1] if out.strip() else "no output"
    data = json.loads(await asyncio.to_thread(truth_path.read_text, encoding="utf-8"))
    rounds = data.get("rounds", [])
    if not rounds or not rounds[0].get("seed"):
        return False, "no revealed seed to verify"
    seed = rounds[0]["seed"]
    rounds[0]["seed"] = ("0" if seed[0] != "0" else "1") + seed[1:]
    tampered = truth_path.with_name("truth-tampered.json")
    await asyncio.to_thread(tampered.write_text, json.dumps(data), encoding="utf-8")
    tampered_code, _, _ = await run_once(
        ["verify-fairness", "--export", str(tampered)], services.common_env, 60
    )
    ok = code == 0 and tampered_code == 1
    return (
        ok,
        f"{verified}; a changed seed is {'rejected' if tampered_code == 1 else 'NOT rejected'}",
    )


# -- the whole demo ----------------------------------------------------------------------------


async def run_demo(
    options: DemoOptions, console: Console, base_env: Mapping[str, str]
) -> DemoResult:
    result = DemoResult()
    run_id = secrets.token_hex(3)
    run_dir = Path(tempfile.mkdtemp(prefix="hypeledger-demo-"))
    result.run_dir = run_dir
    clock = time.monotonic()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.monotonic()
        result.timings[name] = round(now - clock, 2)
        clock = now

    console.print(f"[bold]hypeledger demo[/] run {run_id}: logs in {run_dir}")
    async with infrastructure(options, base_env, run_id) as (common, servers):
        lap("infrastructure")
        console.print(f"infrastructure up ({servers}): database migrated, topics created")
        services = plan_services(options, common, run_dir, base_env)
        async with running_services(services, options.startup_timeout_s):
            lap("services")
            console.print(
                "services ready: " + ", ".join(f"{k} {v}" for k, v in services.urls.items())
            )
            async with (
                operator_client(services) as api,
                httpx.AsyncClient(
                    base_url=services.urls["simulator"],
                    headers={"Authorization": f"Bearer {services.keys.simulator_token}"},
                    timeout=60.0,
                ) as sim,
            ):
                users = await create_players(api, options, run_id)
                if options.free_bets:
                    await grant_free_bets(api, options, users, run_id)
                sessions = await launch_sessions(api, options, users)
                limits, excluded, refused = await protect_players(api, options, users)
                result.mismatches += refused
                lap("players")
                console.print(
                    f"{len(users)} players with {options.deposit} {options.currency}, {len(sessions)} sessions"
                )
                result.status = await play(sim, options.rounds, console)
                lap("play")
                result.truth = (await sim.get("/_sim/truth")).json()
                (run_dir / "truth.json").write_text(
                    json.dumps(result.truth, indent=1), encoding="utf-8"
                )
                balances, rows = await ledger_state(api, users, options.currency)
                result.mismatches += balance_mismatches(result.truth, balances)
                result.mismatches += movement_mismatches(result.truth, rows)
                result.mismatches += protection_mismatches(result.truth, limits, excluded)
                result.protection = (
                    f"{len(limits)} with a loss limit of {options.loss_limit}/day,"
                    f" {len(excluded)} self-excluded (launch refused); bets refused: "
                    + (_pairs(refusals(result.truth)) or "none")
                )
                lap("check")
                result.reconcile_report, result.findings = await reconcile(services)
                result.mismatches += finding_mismatches(result.truth, result.findings)
                lap("reconcile")
                fair, result.fairness = await verify_fairness(services, run_dir / "truth.json")
                if not fair:
                    result.mismatches.append(Mismatch("fairness", "crash points", result.fairness))
        result.shutdown = dict(services.exit_codes)
        lap("shutdown")
    return result


def summary(result: DemoResult, options: DemoOptions) -> Table:
    table = Table(title="hypeledger demo summary", show_header=False)
    truth = result.truth
    txs = truth.get("transactions", [])
    table.add_row("doc generation", options.generation)
    table.add_row("players / rounds", f"{options.players} / {result.status.get('rounds_played')}")
    table.add_row("webhooks sent", str(result.status.get("webhooks_sent")))
    table.add_row(
        "latency p50 / p99",
        f"{result.status.get('latency_p50_ms')} / {result.status.get('latency_p99_ms')} ms",
    )
    table.add_row(
        "provider transactions",
        _pairs(_count(tx["transactionType"] + " " + tx["transactionStatus"] for tx in txs)),
    )
    free = [tx for tx in txs if tx.get("mode") == "free"]
    if free:
        table.add_row("free-bet transactions", _pairs(_count(tx["transactionType"] for tx in free)))
    table.add_row("faults injected", _pairs(truth.get("faults", {}).get("counts", {})) or "none")
    table.add_row("player protection", result.protection or "-")
    table.add_row("findings (reconciler)", _pairs(count_classes(result.findings)) or "none")
    table.add_row(
        "findings expected",
        _pairs({k: len(v) for k, v in expected_findings(truth).items() if v}) if truth else "-",
    )
    table.add_row("provably fair", result.fairness or "-")
    table.add_row("mismatches", str(len(result.mismatches)))
    table.add_row(
        "shutdown",
        ", ".join(f"{name} {_exit(code)}" for name, code in sorted(result.shutdown.items())) or "-",
    )
    table.add_row("timings (s)", _pairs(result.timings))
    table.add_row(
        "result",
        "[green]OK: every balance, transaction and finding matches[/]"
        if result.ok
        else "[red]MISMATCH[/]",
    )
    return table


def _exit(code: int | None) -> str:
    """How a service ended: uvicorn re-raises SIGTERM after its graceful shutdown, so a
    SIGTERM ending is as clean as exit 0; SIGKILL means it had to be killed."""
    if code == 0:
        return "exit 0"
    if code == -signal.SIGTERM:
        return "SIGTERM (clean)"
    if code == -signal.SIGKILL:
        return "KILLED (did not stop in time)"
    return "still running" if code is None else f"exit {code}"


def _count(values: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return counts


def _pairs(values: Mapping[str, Any]) -> str:
    return ", ".join(f"{key} {value}" for key, value in sorted(values.items()))


def _expect(response: httpx.Response, statuses: tuple[int, ...], what: str) -> None:
    if response.status_code not in statuses:
        raise RuntimeError(f"{what}: HTTP {response.status_code} {response.text[:500]}")
