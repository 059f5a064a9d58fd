"""The reconciler's composition root: ``build(settings)`` wires pool, Hypetech client,
publisher, the settler of finished rounds and runner; ``serve(settings)`` runs it every
``interval_s`` with ``/healthz``, ``/readyz`` and ``/metrics`` on the metrics port."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
from aiokafka import AIOKafkaProducer

from services.reconciler.metrics import ReconcilerMetrics
from services.reconciler.provider import build_client
from services.reconciler.publisher import FindingPublisher
from services.reconciler.runner import Progress, Reconciler, RunRequest, utc_now
from services.reconciler.settings import ReconcilerSettings
from services.reconciler.settling import RoundSettler
from services.reconciler.store import AnotherRunActive, ReconcilerStore
from shared.currencies import CurrencyTable
from shared.db.pool import create_pool
from shared.hypetech import HypetechClient
from shared.kafka import producer
from shared.kafka_rpc import ledger_client
from shared.logs import configure_logging, get_logger
from shared.probes import ProbeServer, probes_app
from shared.tracing import configure_tracing

DEFAULT_PROVIDER = "hypetech"


@dataclass
class ReconcilerApp:
    settings: ReconcilerSettings
    pool: asyncpg.Pool
    store: ReconcilerStore
    client: HypetechClient
    metrics: ReconcilerMetrics
    reconciler: Reconciler

    async def ready_checks(self) -> dict[str, bool]:
        try:
            async with self.pool.acquire() as conn:
                database = await conn.fetchval("SELECT true")
        except (OSError, asyncpg.PostgresError):
            database = False
        return {"database": database}


@contextlib.asynccontextmanager
async def build(settings: ReconcilerSettings) -> AsyncIterator[ReconcilerApp]:
    metrics = ReconcilerMetrics()
    async with contextlib.AsyncExitStack() as stack:
        pool = await create_pool(
            settings, max_size=max(4, settings.concurrency // 4), application_name="reconciler"
        )
        stack.push_async_callback(pool.close)
        store = ReconcilerStore(pool, DEFAULT_PROVIDER, CurrencyTable(settings.extra_currencies))
        client = build_client(settings)
        stack.push_async_callback(client.aclose)
        kafka_producer: AIOKafkaProducer = producer(settings)
        await kafka_producer.start()
        stack.push_async_callback(kafka_producer.stop)
        settler = None
        if settings.settle_lost_on_finished_rounds:
            rpc = await ledger_client(
                stack, settings, instance_id=settings.instance_id, client_id="hypeledger-reconciler"
            )
            settler = RoundSettler(
                rpc, store, metrics, timeout_s=settings.ledger_timeout_s, clock=utc_now
            )
        reconciler = Reconciler(
            settings,
            pool=pool,
            store=store,
            client=client,
            metrics=metrics,
            publisher=FindingPublisher(settings, store, kafka_producer, metrics),
            settler=settler,
        )
        yield ReconcilerApp(settings, pool, store, client, metrics, reconciler)


async def serve(settings: ReconcilerSettings) -> None:
    """Run every ``interval_s`` until SIGTERM or SIGINT."""
    configure_logging(settings.log_level, settings.log_format)
    configure_tracing("hypeledger-reconciler")
    log = get_logger("reconciler")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with build(settings) as app:
        probes = ProbeServer(
            probes_app(
                app.metrics.registry, app.ready_checks, metrics_token=settings.metrics_token
            ),
            settings.metrics_host,
            settings.metrics_port,
        )
        await probes.start()
        try:
            while not stop.is_set():
                try:
                    await app.reconciler.run_once(RunRequest(trigger="scheduled"))
                except AnotherRunActive:
                    log.info("reconciler.run.skipped", reason="another reconciler is running")
                except Exception:  # a failed run is retried at the next interval
                    app.metrics.errors.labels("run").inc()
                    log.exception("reconciler.run.failed")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), settings.interval_s)
        finally:
            await probes.stop()


async def reconcile_once(
    settings: ReconcilerSettings, request: RunRequest, progress: Progress | None = None
) -> dict[str, object]:
    """One run; ``progress(done, total)`` is told the sessions checked after each chunk."""
    configure_logging(settings.log_level, settings.log_format)
    async with build(settings) as app:
        report = await app.reconciler.run_once(request, progress)
    return report.as_json()
