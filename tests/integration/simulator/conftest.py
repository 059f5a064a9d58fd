"""Fixtures of the simulator's tests: a reference operator and simulator settings aimed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from reference_operator import API_KEY, ReferenceOperator

from services.simulator.serve import running
from services.simulator.settings import SimulatorSettings


@pytest.fixture
async def operator() -> AsyncIterator[ReferenceOperator]:
    wallet = ReferenceOperator()
    async with running(wallet.app()) as base_url:
        wallet.base_url = base_url
        yield wallet


@pytest.fixture
def simulator_settings(operator: ReferenceOperator) -> Callable[..., SimulatorSettings]:
    def build(**overrides: Any) -> SimulatorSettings:
        values: dict[str, Any] = {
            "webhook_base_url": operator.base_url,
            "webhook_api_key": API_KEY,
            "seed": 7,
            "server_secret": "a" * 64,
            "chain_length": 200,
            "betting_window_s": 0,
            "webhook_backoff_s": 0,
            "webhook_timeout_s": 2,
        }
        values.update(overrides)
        return SimulatorSettings(**values)

    return build
