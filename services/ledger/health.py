"""The small HTTP server of the ledger and the relay: ``/healthz``, ``/readyz``, ``/metrics``."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Generator

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from shared.http_server import server_config
from shared.metrics_access import MetricsTokenGuard
from shared.settings import HttpServerLimits

ReadyCheck = Callable[[], Awaitable[dict[str, bool]]]
LiveCheck = Callable[[], bool]


def probes_app(
    registry: CollectorRegistry,
    ready: ReadyCheck,
    live: LiveCheck = lambda: True,
    metrics_token: SecretStr | None = None,
) -> Starlette:
    async def healthz(_: Request) -> Response:
        if not live():
            return JSONResponse({"status": "failed"}, status_code=503)
        return JSONResponse({"status": "ok"})

    async def readyz(_: Request) -> Response:
        checks = await ready()
        ok = all(checks.values())
        return JSONResponse({"ready": ok, "checks": checks}, status_code=200 if ok else 503)

    async def metrics(_: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
        ],
        middleware=[Middleware(MetricsTokenGuard, token=metrics_token)],
    )


class _QuietServer(uvicorn.Server):
    """Leaves signal handling to the service (uvicorn would take SIGINT and SIGTERM for itself)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class ProbeServer:
    """uvicorn serving ``probes_app`` inside the service's own event loop."""

    def __init__(self, app: Starlette, host: str, port: int) -> None:
        config = server_config(
            app,
            HttpServerLimits(),
            host=host,
            port=port,
            lifespan="off",
            log_level="warning",
            access_log=False,
        )
        self._server = _QuietServer(config)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._server.serve(), name="probe-server")
        while not self._server.started:
            if self._task.done():
                await self._task
                raise RuntimeError("the probe server stopped while starting")
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        self._server.should_exit = True
        if self._task is not None:
            await self._task
