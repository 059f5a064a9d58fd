"""A real simulator over real HTTP for the client's tests, and a sleep that only records."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from client_support import TOKEN, LiveSimulator, RecordedSleep

from services.simulator.app import create_app
from services.simulator.serve import running
from services.simulator.settings import SimulatorSettings


@pytest.fixture
async def simulator() -> AsyncIterator[LiveSimulator]:
    app = create_app(SimulatorSettings(api_token=TOKEN, seed=3, chain_length=10))
    async with running(app) as base_url:
        yield LiveSimulator(base_url, app.state.simulator)


@pytest.fixture
def recorded_sleep() -> RecordedSleep:
    return RecordedSleep()
