"""Run the simulator with uvicorn (the bounds of ``shared.http_server``)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.types import ASGIApp

from services.simulator.app import create_app
from services.simulator.settings import SimulatorSettings
from shared.http_server import HttpServerConfig, run, server_config, serving
from shared.settings import HttpServerLimits


def server_of(settings: SimulatorSettings) -> HttpServerConfig:
    """uvicorn's configuration of the simulator with the bounds of ``settings``."""
    return server_config(
        create_app(settings, configure_logs=True),
        settings,
        host=settings.host,
        port=settings.port,
        log_level="warning",
        lifespan="on",
    )


def serve(settings: SimulatorSettings) -> None:
    run(server_of(settings))


@contextlib.asynccontextmanager
async def running(
    app: ASGIApp,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    limits: HttpServerLimits | None = None,
) -> AsyncIterator[str]:
    """Serve ``app`` with uvicorn inside the running event loop; yields its base URL.

    Port 0 picks a free port. Used by the tests and the demo to run a real HTTP server in-process.
    """
    config = server_config(
        app,
        limits or HttpServerLimits(),
        host=host,
        port=port,
        log_level="warning",
        lifespan="on",
    )
    async with serving(config) as base_url:
        yield base_url
