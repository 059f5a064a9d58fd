"""The simulator's composition root: `create_app(settings)`; nothing is built at import."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
from starlette.applications import Starlette

from services.simulator.api import Api
from services.simulator.runner import Clock, utc_now
from services.simulator.settings import SimulatorSettings
from services.simulator.simulator import Simulator
from shared.logs import configure_logging, get_logger

Sleep = Callable[[float], Awaitable[None]]


def create_app(
    settings: SimulatorSettings,
    *,
    clock: Clock = utc_now,
    sleep: Sleep = asyncio.sleep,
    rng: random.Random | None = None,
    webhook_transport: httpx.AsyncBaseTransport | None = None,
    configure_logs: bool = False,
) -> Starlette:
    """The simulator as an ASGI app; ``app.state.simulator`` is the ``Simulator``."""
    sim = Simulator(
        settings, clock=clock, sleep=sleep, rng=rng, webhook_transport=webhook_transport
    )
    log = get_logger("simulator")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if configure_logs:
            configure_logging(settings.log_level, settings.log_format)
        await sim.start()
        log.info(
            "simulator.started",
            generation=settings.generation.value,
            seed=sim.seed,
            terminal_hash=sim.chain.terminal_hash,
        )
        try:
            yield
        finally:
            await sim.stop()
            log.info("simulator.stopped")

    app = Starlette(routes=Api(sim).routes(), lifespan=lifespan)
    app.state.simulator = sim
    return app
