"""Run the simulator with uvicorn."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import uvicorn
from starlette.types import ASGIApp

from services.simulator.app import create_app
from services.simulator.settings import SimulatorSettings


def serve(settings: SimulatorSettings) -> None:
    app = create_app(settings, configure_logs=True)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level="warning",
        log_config=None,
        lifespan="on",
    )


@contextlib.asynccontextmanager
async def running(app: ASGIApp, *, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
    """Serve ``app`` with uvicorn inside the running event loop; yields its base URL.

    Port 0 picks a free port. Used by the tests and the demo to run a real HTTP server in-process.
    """
    server = uvicorn.Server(
        uvicorn.Config(
            app, host=host, port=port, log_level="warning", log_config=None, lifespan="on"
        )
    )
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(500):
            if server.started or task.done():
                break
            await asyncio.sleep(0.01)
        if not server.started:
            raise RuntimeError("the server did not start within 5 s")
        bound = server.servers[0].sockets[0].getsockname()
        yield f"http://{host}:{bound[1]}"
    finally:
        server.should_exit = True
        await task
