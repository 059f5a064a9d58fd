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
import uvicorn
from aiokafka import AIOKafkaProducer
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from services.reconciler.metrics import ReconcilerMetrics
from services.reconciler.provider import build_client
from services.reconciler.publisher import FindingPublisher
from services.reconciler.runner import Progress, Reconciler, RunRequest, utc_now
from services.reconciler.settling import RoundSettler
from services.reconciler.store import AnotherRunActive, ReconcilerStore
from shared.contracts.topics import COMMANDS
from shared.currencies import CurrencyTable
from shared.db.pool import create_pool
from shared.http_server import server_config
from shared.hypetech import HypetechClient
from shared.kafka import producer
from shared.kafka_rpc import KafkaRpcClient
from shared.logs import configure_logging, get_logger
from shared.metrics_access import MetricsTokenGuard
from shared.settings import HttpServerLimits, ReconcilerSettings
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

    async def ready(self) -> bool:
        try:
            async with self.pool.acquire() as conn:
                await conn.fetchval("SELECT 1")
        except (OSError, asyncpg.PostgresError):
            return False
        return True


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
            rpc = KafkaRpcClient(
                settings,
                request_topic=COMMANDS,
                instance_id=settings.instance_id,
                client_id="hypeledger-reconciler",
            )
            await rpc.start()
            stack.push_async_callback(rpc.stop)
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


def health_app(app: ReconcilerApp, metrics_token: SecretStr | None = None) -> Starlette:
    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(_: Request) -> Response:
        ready = await app.ready()
        return JSONResponse({"ready": ready}, status_code=200 if ready else 503)

    async def metrics(_: Request) -> Response:
        return Response(generate_latest(app.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics),
        ],
        middleware=[Middleware(MetricsTokenGuard, token=metrics_token)],
    )


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
        server = uvicorn.Server(
            server_config(
                health_app(app, settings.metrics_token),
                HttpServerLimits(),
                host=settings.metrics_host,
                port=settings.metrics_port,
                log_level="warning",
                log_config=None,
                lifespan="off",
            )
        )
        server_task = asyncio.create_task(server.serve())
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
            server.should_exit = True
            await server_task


async def reconcile_once(
    settings: ReconcilerSettings, request: RunRequest, progress: Progress | None = None
) -> dict[str, object]:
    """One run; ``progress(done, total)`` is told the sessions checked after each chunk."""
    configure_logging(settings.log_level, settings.log_format)
    async with build(settings) as app:
        report = await app.reconciler.run_once(request, progress)
    return report.as_json()
