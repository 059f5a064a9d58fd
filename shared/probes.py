"""The probes every service serves: ``/healthz`` (alive), ``/readyz`` (each check of the service,
by name) and ``/metrics``; and the small server that carries them for the processes without an
HTTP API of their own (the ledger, the relay, the reconciler).

``/healthz`` answers 200 ``{"status": "ok"}``, or 503 ``{"status": "failed"}`` once the service
says it is not alive; ``/readyz`` answers ``{"ready": all checks, "checks": {name: bool}}``,
200 when every check holds and 503 otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Generator, Mapping

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

ReadyCheck = Callable[[], Awaitable[Mapping[str, bool]]]
LiveCheck = Callable[[], bool]


def _always() -> bool:
    return True


def probe_routes(
    registry: CollectorRegistry, ready: ReadyCheck, live: LiveCheck = _always
) -> list[Route]:
    async def healthz(_: Request) -> Response:
        if not live():
            return JSONResponse({"status": "failed"}, status_code=503)
        return JSONResponse({"status": "ok"})

    async def readyz(_: Request) -> Response:
        checks = dict(await ready())
        ok = all(checks.values())
        return JSONResponse({"ready": ok, "checks": checks}, status_code=200 if ok else 503)

    async def metrics(_: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]


def probes_app(
    registry: CollectorRegistry,
    ready: ReadyCheck,
    live: LiveCheck = _always,
    metrics_token: SecretStr | None = None,
) -> Starlette:
    """The probes alone, ``/metrics`` behind the metrics token when one is set."""
    return Starlette(
        routes=probe_routes(registry, ready, live),
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
