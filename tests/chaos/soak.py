"""A whole-system fault soak: the simulator plays with every fault on while the system is broken.

Every service runs as its own process (``hypeledger ledger``, ``ingress``, ``operator-api``,
``simulator``) on a Postgres and an Apache Kafka of the soak's own. While the simulator plays
(duplicates, lost replies, rollbacks before their bet, drift, wrong rollback amounts), the soak

* SIGKILLs the ledger about every 10 s and starts it again (same group instance id),
* SIGKILLs the ingress a few times and starts it again,
* SIGKILLs the broker once and restarts it on its log,
* stops Postgres immediately once and starts it again,

and times how long each service needs to serve again after each fault. At the end every balance
must equal the simulator's truth to the cent, every answered money webhook must be applied exactly
once and nothing else, every duplicate must have been answered with the same bytes, and
``hypeledger audit`` must be clean.

``tests/chaos/test_soak.py`` runs it briefly in the suite; ``python tests/chaos/soak.py --seconds
600 --report soak.md`` is the long run whose report goes in docs/reliability.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[2]))

from restartable_postgres import RestartablePostgres

from services.demo.checks import balance_mismatches, movement_mismatches
from services.demo.processes import ServiceProcess, run_once
from services.demo.run import (
    DemoOptions,
    Services,
    create_players,
    launch_sessions,
    ledger_state,
    operator_client,
    plan_services,
)
from shared.contracts.topics import COMMANDS, COMMANDS_DLQ, RECONCILIATION, TRANSACTIONS
from shared.db.databases import create_database
from shared.db.migrate import migrate
from shared.kafka import ensure_topics
from shared.settings import BrokerFlavour, CommonSettings
from tests.own_kafka import OwnKafka, own_kafka

#: How long a service may take to serve again after a fault before the soak fails.
RECOVERY_LIMIT_S = 60.0
#: Rounds asked of the simulator at a time (the soak plays until its time is up).
ROUNDS_PER_PLAY = 5


@dataclass
class Recovery:
    fault: str
    at_s: float
    service: str
    took_s: float


@dataclass
class SoakResult:
    seconds: float = 0.0
    recoveries: list[Recovery] = field(default_factory=list)
    status: dict[str, Any] = field(default_factory=dict)
    players: int = 0
    transactions: int = 0
    mismatches: list[str] = field(default_factory=list)
    audit_clean: bool = False
    audit_output: str = ""
    duplicates_same: int = 0
    duplicates_differed: int = 0
    duplicates_unanswered: int = 0
    unanswered: int = 0

    @property
    def ok(self) -> bool:
        return not self.mismatches and self.audit_clean and self.duplicates_differed == 0

    def report(self) -> str:
        lines = [
            f"- duration: {self.seconds:.0f} s of play, {self.status.get('rounds_played')} rounds,"
            f" {self.players} players",
            f"- webhooks sent: {self.status.get('webhooks_sent')}"
            f" (HTTP statuses: {_pairs(self.status.get('webhook_statuses', {}))})",
            f"- faults injected by the simulator: {_pairs(self.status.get('faults', {}))}",
            f"- provider transactions: {self.transactions};"
            f" never answered after every retry: {self.unanswered}",
            f"- duplicates answered with the same bytes: {self.duplicates_same},"
            f" differently: {self.duplicates_differed}, unanswered: {self.duplicates_unanswered}",
            f"- balances and movements against the truth: {len(self.mismatches)} mismatches",
            f"- hypeledger audit: {'clean' if self.audit_clean else 'VIOLATIONS'}",
            "",
            "| fault | count | service | recovery p50 | recovery max |",
            "|---|---|---|---|---|",
        ]
        groups: dict[tuple[str, str], list[float]] = {}
        for recovery in self.recoveries:
            groups.setdefault((recovery.fault, recovery.service), []).append(recovery.took_s)
        for (fault, service), took in sorted(groups.items()):
            lines.append(
                f"| {fault} | {len(took)} | {service} | {statistics.median(took):.2f} s"
                f" | {max(took):.2f} s |"
            )
        return "\n".join(lines)


def _pairs(values: dict[str, Any]) -> str:
    return ", ".join(f"{key} {value}" for key, value in sorted(values.items())) or "none"


# -- infrastructure of the soak's own ------------------------------------------------------------


@contextlib.asynccontextmanager
async def infrastructure(
    run_dir: Path, partitions: int
) -> AsyncIterator[tuple[dict[str, str], RestartablePostgres, OwnKafka]]:
    postgres = RestartablePostgres()
    try:
        admin = await postgres.start()
        dsn = await create_database(admin, f"hypeledger_soak_{uuid.uuid4().hex[:8]}")
        await migrate(dsn)
        async with own_kafka(run_dir / "kafka") as broker:
            env = {
                "HYPELEDGER_ENVIRONMENT": "development",
                "HYPELEDGER_DATABASE_URL": dsn,
                "HYPELEDGER_KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
                "HYPELEDGER_KAFKA_FLAVOUR": "kafka",
                "HYPELEDGER_KAFKA_SESSION_TIMEOUT_MS": "6000",
                "HYPELEDGER_KAFKA_HEARTBEAT_INTERVAL_MS": "1000",
                "HYPELEDGER_LOG_FORMAT": "json",
            }
            settings = CommonSettings(
                database_url=dsn,
                kafka_bootstrap_servers=broker.bootstrap,
                kafka_flavour=BrokerFlavour.KAFKA,
            )
            await ensure_topics(
                settings,
                dict.fromkeys((COMMANDS, COMMANDS_DLQ, TRANSACTIONS, RECONCILIATION), partitions),
            )
            yield env, postgres, broker
    finally:
        postgres.stop()


# -- faults ------------------------------------------------------------------------------------


def sigkill(process: ServiceProcess) -> None:
    if process.process is not None and process.process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.process.pid, signal.SIGKILL)
        process.process.wait(10)


async def serving_again(process: ServiceProcess, started: float) -> float:
    """Seconds from ``started`` until ``process`` answers its readiness probe."""
    await process.wait_ready(RECOVERY_LIMIT_S)
    return time.monotonic() - started


class Faults:
    """The fault schedule: what breaks when, and how long each service took to come back."""

    def __init__(
        self,
        services: Services,
        postgres: RestartablePostgres,
        broker: OwnKafka,
        seconds: float,
    ) -> None:
        self._services = services
        self._postgres = postgres
        self._broker = broker
        self._seconds = seconds
        self._began = time.monotonic()
        self.recoveries: list[Recovery] = []

    def _now(self) -> float:
        return time.monotonic() - self._began

    def _record(self, fault: str, service: str, took: float, at: float) -> None:
        self.recoveries.append(Recovery(fault, round(at, 1), service, round(took, 2)))

    async def restart_ledger(self) -> None:
        at = self._now()
        sigkill(self._services.ledger)
        started = time.monotonic()
        self._services.ledger.start()
        self._record(
            "ledger SIGKILL", "ledger", await serving_again(self._services.ledger, started), at
        )

    async def restart_ingress(self) -> None:
        at = self._now()
        sigkill(self._services.ingress)
        started = time.monotonic()
        self._services.ingress.start()
        took = await serving_again(self._services.ingress, started)
        self._record("ingress SIGKILL", "ingress", took, at)

    async def restart_broker(self) -> None:
        at = self._now()
        await self._broker.kill()
        await asyncio.sleep(2.0)
        await self._broker.restart()
        await self._after("broker SIGKILL (down 2 s)", at, time.monotonic())

    async def restart_postgres(self) -> None:
        at = self._now()
        self._postgres.stop_immediately()
        await asyncio.sleep(3.0)
        await self._postgres.restart()
        await self._after("Postgres immediate stop (down 3 s)", at, time.monotonic())

    async def _after(self, fault: str, at: float, started: float) -> None:
        """How long each service needed to serve again once the broken server answered."""
        for process in (self._services.ledger, self._services.ingress):
            self._record(fault, process.name, await serving_again(process, started), at)

    async def run(self) -> None:
        """Break something about every 10 s until the time is up and every fault of the plan
        has happened once: ledger kills throughout, the ingress at a fifth and at two thirds,
        Postgres at 35 %, the broker at half time."""
        plan: list[tuple[float, Callable[[], Awaitable[None]]]] = [
            (self._seconds * 0.20, self.restart_ingress),
            (self._seconds * 0.35, self.restart_postgres),
            (self._seconds * 0.50, self.restart_broker),
            (self._seconds * 0.66, self.restart_ingress),
        ]
        next_ledger_kill = 8.0
        while plan or self._now() < self._seconds:
            if plan and self._now() >= plan[0][0]:
                await plan.pop(0)[1]()
            elif self._now() >= next_ledger_kill:
                await self.restart_ledger()
                next_ledger_kill = self._now() + 10.0
            await asyncio.sleep(0.2)


# -- the soak ----------------------------------------------------------------------------------


async def play_until(sim: httpx.AsyncClient, done: asyncio.Task[None]) -> dict[str, Any]:
    """Ask the simulator for a few rounds at a time until ``done`` (the faults) is."""
    status: dict[str, Any] = {}
    while not done.done() or not status:
        answer = await sim.post("/_sim/play", json={"rounds": ROUNDS_PER_PLAY, "wait": True})
        if answer.status_code != 200:
            raise RuntimeError(f"the simulator refused to play: {answer.status_code} {answer.text}")
        status = answer.json()
    return status


async def run_soak(seconds: float, *, players: int = 30, run_dir: Path | None = None) -> SoakResult:
    run_dir = run_dir or Path(tempfile.mkdtemp(prefix="hypeledger-soak-"))
    result = SoakResult(players=players)
    options = DemoOptions(
        players=players,
        partitions=4,
        faults={
            "duplicate": Decimal("0.05"),
            "rollback_before_bet": Decimal("0.3"),
            "lost_reply": Decimal("0.03"),
            "drift": Decimal("0.02"),
            "wrong_rollback_amount": Decimal("0.3"),
        },
    )
    async with infrastructure(run_dir, options.partitions) as (common, postgres, broker):
        services = plan_services(options, common, run_dir, os.environ)
        services.ledger.env["HYPELEDGER_INSTANCE_ID"] = "soak-ledger-0"
        # Hypetech retries for a while (the defaults give up within a second): long enough to
        # ride out a broker or database restart, as a provider does.
        services.simulator.env["HYPELEDGER_SIMULATOR_WEBHOOK_MAX_ATTEMPTS"] = "8"
        services.simulator.env["HYPELEDGER_SIMULATOR_WEBHOOK_BACKOFF_S"] = "0.25"
        try:
            for process in services.all():
                process.start()
            await asyncio.gather(*(p.wait_ready(options.startup_timeout_s) for p in services.all()))
            async with (
                operator_client(services) as api,
                httpx.AsyncClient(
                    base_url=services.urls["simulator"],
                    headers={"Authorization": f"Bearer {services.keys.simulator_token}"},
                    timeout=max(120.0, seconds),
                ) as sim,
            ):
                run_id = uuid.uuid4().hex[:6]
                users = await create_players(api, options, run_id)
                await launch_sessions(api, options, users)
                faults = Faults(services, postgres, broker, seconds)
                began = time.monotonic()
                breaking = asyncio.create_task(faults.run())
                result.status = await play_until(sim, breaking)
                await breaking
                result.seconds = time.monotonic() - began
                result.recoveries = faults.recoveries
                await asyncio.gather(*(p.wait_ready(RECOVERY_LIMIT_S) for p in services.all()))
                truth = (await sim.get("/_sim/truth")).json()
                (run_dir / "truth.json").write_text(json.dumps(truth), encoding="utf-8")
                balances, rows = await ledger_state(api, users, options.currency)
        finally:
            for process in reversed(services.all()):
                await asyncio.to_thread(process.stop)
        result.transactions = len(truth["transactions"])
        result.unanswered = sum(
            1 for tx in truth["transactions"] if tx["delivered"] and tx["operatorStatus"] is None
        )
        outcomes = result.status.get("outcomes", {})
        result.duplicates_same = int(outcomes.get("duplicate_answer_same", 0))
        result.duplicates_differed = int(outcomes.get("duplicate_answer_differed", 0))
        result.duplicates_unanswered = int(outcomes.get("duplicate_unanswered", 0))
        result.mismatches = [
            f"{m.area} {m.subject}: {m.detail}"
            for m in [*balance_mismatches(truth, balances), *movement_mismatches(truth, rows)]
        ]
        code, out, err = await run_once(["audit"], services.common_env, timeout_s=120)
        result.audit_clean = code == 0
        result.audit_output = (out + err)[-3000:]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--players", type=int, default=60)
    parser.add_argument("--report", type=Path, default=None)
    args = parser.parse_args()
    run_dir = Path(tempfile.mkdtemp(prefix="hypeledger-soak-"))
    result = asyncio.run(run_soak(args.seconds, players=args.players, run_dir=run_dir))
    text = result.report()
    out = [
        text,
        *(f"MISMATCH {mismatch}" for mismatch in result.mismatches[:50]),
        f"logs, the truth and the broker's data: {run_dir} (remove it when done)",
    ]
    if not result.audit_clean:
        out.append(result.audit_output)
    sys.stdout.write("\n".join(out) + "\n")
    if args.report is not None:
        args.report.write_text(text + "\n", encoding="utf-8")
    sys.exit(0 if result.ok else 1)


if __name__ == "__main__":
    main()
