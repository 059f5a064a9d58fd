"""Composition root of the ledger (``hypeledger ledger``) and the relay (``hypeledger relay``).

``build(settings)`` wires the pool, the Kafka clients, the policy, the metrics and the probe
server; nothing is created before it is called.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer

from services.ledger import store
from services.ledger.consumer import LedgerConsumer
from services.ledger.errors import reason_of
from services.ledger.faults import Faults
from services.ledger.metrics import LedgerMetrics
from services.ledger.model import Policy
from services.ledger.relay import OutboxRelay
from services.ledger.settings import LedgerSettings
from services.ledger.store import KEY_LOOKUPS_ONLY
from shared.contracts.topics import COMMANDS, COMMANDS_DLQ, TRANSACTIONS
from shared.currencies import CurrencyTable
from shared.db.pool import create_pool
from shared.kafka import ensure_topics, producer, stop_client
from shared.logs import configure_logging, get_logger
from shared.probes import ProbeServer, probes_app
from shared.runtime import collect_garbage_less_often, run_service
from shared.startup import Phases
from shared.tracing import configure_tracing

log = get_logger("hypeledger.ledger")

#: How often the ledger makes sure this month's and next month's partitions of ``decisions``
#: exist (``store.add_months``): a month is always there weeks before its first decision.
ADD_MONTHS_EVERY_S = 3600.0


def policy_of(settings: LedgerSettings) -> Policy:
    return Policy(
        session_check=settings.session_check,
        insufficient_funds_status=settings.insufficient_funds_status,
        rollback_unknown_status=settings.rollback_unknown_status,
        win_without_round=settings.win_without_round,
        currencies=CurrencyTable(settings.extra_currencies),
        time_zone=settings.ledger_time_zone,
        limit_cooling_off=settings.ledger_limit_cooling_off,
    )


@dataclass
class LedgerService:
    settings: LedgerSettings
    run_consumer: bool = True
    run_relay: bool = True
    create_partitions: int | None = None
    metrics: LedgerMetrics = field(default_factory=LedgerMetrics)
    faults: Faults = field(default_factory=Faults)
    stop_event: asyncio.Event = field(default_factory=asyncio.Event)
    pool: asyncpg.Pool | None = None
    consumer: LedgerConsumer | None = None
    relay: OutboxRelay | None = None

    async def ready_checks(self) -> Mapping[str, bool]:
        checks: dict[str, bool] = {}
        try:
            assert self.pool is not None  # noqa: S101 - set before the probe server starts
            async with self.pool.acquire(timeout=1) as conn:
                checks["database"] = await conn.fetchval("SELECT true")
        except Exception:  # noqa: BLE001 - any failure means not ready
            checks["database"] = False
        if self.run_consumer:
            checks["consumer"] = self.consumer is not None and self.consumer.ready
        return checks

    def alive(self) -> bool:
        """False once a partition stopped on an error the code does not understand (``/healthz``
        then fails, so the orchestrator restarts the process)."""
        return self.consumer is None or self.consumer.alive

    async def run(self) -> None:
        settings = self.settings
        phases = Phases()
        if self.create_partitions:
            await ensure_topics(
                settings,
                {
                    COMMANDS: self.create_partitions,
                    COMMANDS_DLQ: self.create_partitions,
                    TRANSACTIONS: self.create_partitions,
                },
            )
        kafka_producer: AIOKafkaProducer = producer(settings, client_id="hypeledger-ledger")
        port = settings.metrics_port if self.run_consumer else settings.relay_metrics_port
        probes = ProbeServer(
            probes_app(
                self.metrics.registry,
                self.ready_checks,
                self.alive,
                metrics_token=settings.metrics_token,
            ),
            settings.metrics_host,
            port,
        )
        # The pool, the producer and the probes start together (each waits on the network or a
        # socket, not on the others): a restart's readiness waits for the slowest, not the sum.
        pool = await _started_together(
            create_pool(
                settings,
                min_size=2,
                max_size=12,
                application_name="hypeledger-ledger",
                session_reset=False,
                server_settings=KEY_LOOKUPS_ONLY,
            ),
            kafka_producer,
            probes,
        )
        self.pool = pool
        phases.phase("connect_s")
        tasks: list[asyncio.Task[None]] = []
        announcer: asyncio.Task[None] | None = None
        try:
            if self.run_consumer:
                self.consumer = LedgerConsumer(
                    settings,
                    pool,
                    kafka_producer,
                    metrics=self.metrics,
                    policy=policy_of(settings),
                    faults=self.faults,
                )
                await self.consumer.start()
                phases.phase("group_join_s")
                tasks.append(
                    asyncio.create_task(self.consumer.run(self.stop_event), name="ledger-consumer")
                )
                tasks.append(
                    asyncio.create_task(
                        _months_ahead(pool, self.stop_event), name="decisions-months"
                    )
                )
            if self.run_relay:
                self.relay = OutboxRelay(settings, pool, kafka_producer, self.metrics)
                tasks.append(
                    asyncio.create_task(self.relay.run(self.stop_event), name="outbox-relay")
                )
            log.info(
                "ledger.started",
                consumer=self.run_consumer,
                relay=self.run_relay,
                metrics_port=port,
                instance_id=settings.instance_id or None,
                **phases.durations,
            )
            if self.consumer is not None:
                announcer = asyncio.create_task(_announce_ready(self.consumer, phases))
            stopper = asyncio.create_task(self.stop_event.wait())
            done, _ = await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task is not stopper and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
        finally:
            self.stop_event.set()
            if announcer is not None:
                announcer.cancel()
            await _stopped(tasks)
            if self.consumer is not None:
                await self.consumer.stop()
            await probes.stop()
            await stop_client(kafka_producer)
            await pool.close()
            log.info("ledger.stopped")


async def _started_together(
    connecting: Coroutine[Any, Any, asyncpg.Pool],
    kafka_producer: AIOKafkaProducer,
    probes: ProbeServer,
) -> asyncpg.Pool:
    """Connect the pool, start the producer and the probes at once; the pool once all three
    are up. If any fails, the others are stopped and its error is raised."""
    pool_task = asyncio.ensure_future(connecting)
    produced: list[BaseException | None] = await asyncio.gather(
        kafka_producer.start(), probes.start(), return_exceptions=True
    )
    pool: asyncpg.Pool | None = None
    try:
        pool = await pool_task
    except BaseException as exc:  # noqa: BLE001 - the others are stopped, then it is raised
        produced.append(exc)
    failures = [r for r in produced if isinstance(r, BaseException)]
    if pool is not None and not failures:
        return pool
    if not isinstance(produced[1], BaseException):
        await probes.stop()
    if not isinstance(produced[0], BaseException):
        await stop_client(kafka_producer)
    if pool is not None:
        await pool.close()
    raise failures[0]


async def _months_ahead(pool: asyncpg.Pool, stop: asyncio.Event) -> None:
    """At start and then every ``ADD_MONTHS_EVERY_S``: this month's and next month's partitions
    of ``decisions``. A failure is logged and tried again at the next round (a batch meeting a
    missing month creates it itself, ``services.ledger.unit_of_work``)."""
    while not stop.is_set():
        try:
            async with pool.acquire() as conn:
                added = await store.add_months(conn)
            if added:
                log.info("ledger.decisions.months_added", added=added)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            log.warning("ledger.decisions.months_failed", reason=reason_of(exc))
        try:
            await asyncio.wait_for(stop.wait(), timeout=ADD_MONTHS_EVERY_S)
        except TimeoutError:
            continue


async def _announce_ready(consumer: LedgerConsumer, phases: Phases) -> None:
    """Log ``ledger.ready`` with the seconds since the process started, once the consumer first
    holds its partitions, each sought and compared with its log."""
    await consumer.ready_once.wait()
    log.info("ledger.ready", since_start_s=phases.since_start_s())


async def _stopped(tasks: list[asyncio.Task[None]]) -> None:
    """Wait for each task to finish, at most 5 s each."""
    for task in tasks:
        try:
            await asyncio.wait_for(task, timeout=5)
        except TimeoutError:
            # Cancelled: a consumer batch rolls back, a relay pass leaves its rows
            # unpublished; both are taken again after a restart.
            log.warning("ledger.task.stop_timed_out", task=task.get_name(), within_s=5)
        except asyncio.CancelledError:
            pass


def build(
    settings: LedgerSettings,
    *,
    consumer: bool = True,
    relay: bool = True,
    create_partitions: int | None = None,
) -> LedgerService:
    configure_logging(settings.log_level, settings.log_format)
    configure_tracing("hypeledger-ledger")
    if consumer:  # refuse to start without the keys (shared.command_auth), before connecting
        settings.command_verifier()
        settings.command_signer()
    return LedgerService(
        settings,
        run_consumer=consumer,
        run_relay=relay,
        create_partitions=create_partitions,
        faults=Faults.from_env(settings.environment),
    )


def process_env(settings: LedgerSettings, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment under which a ``hypeledger ledger`` child process reads ``settings``.

    ``base`` (default: this process's environment) is kept, except its ``HYPELEDGER_`` keys.
    Unset settings (None) stay out of the environment, so the child uses their defaults.
    """
    env = {
        key: value
        for key, value in (os.environ if base is None else base).items()
        if not key.startswith("HYPELEDGER_")
    }
    for name, value in settings.model_dump(mode="json").items():
        if value is None:
            continue
        text = value if isinstance(value, str) else json.dumps(value)
        env[f"HYPELEDGER_{name.upper()}"] = text
    return env


def serve(service: LedgerService) -> None:
    """Run until SIGTERM or SIGINT, then stop cleanly."""

    async def main() -> None:
        collect_garbage_less_often()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, service.stop_event.set)
        await service.run()

    run_service(main())
