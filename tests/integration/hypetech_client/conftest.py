"""A real simulator over real HTTP for the client's tests, and a sleep that only records."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from services.simulator.app import create_app
from services.simulator.serve import running
from services.simulator.settings import SimulatorSettings
from services.simulator.simulator import Simulator

TOKEN = "client-test-token"


@dataclass
class RecordedSleep:
    delays: list[float] = field(default_factory=list)

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


@dataclass
class LiveSimulator:
    base_url: str
    sim: Simulator


@pytest.fixture
async def simulator() -> AsyncIterator[LiveSimulator]:
    app = create_app(SimulatorSettings(api_token=TOKEN, seed=3, chain_length=10))
    async with running(app) as base_url:
        yield LiveSimulator(base_url, app.state.simulator)


@pytest.fixture
def recorded_sleep() -> RecordedSleep:
    return RecordedSleep()
