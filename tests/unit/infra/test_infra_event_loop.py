"""Session-scoped async fixtures and tests share one event loop (pyproject's pytest-asyncio setup).

Pools and clients made by session fixtures are bound to the loop they were created on; a test
running on another loop could not use them.
"""

from __future__ import annotations

import asyncio

import pytest


@pytest.fixture(scope="session")
async def session_loop() -> asyncio.AbstractEventLoop:
    return asyncio.get_running_loop()


async def test_test_runs_on_the_loop_of_the_session_fixtures(
    session_loop: asyncio.AbstractEventLoop,
) -> None:
    assert asyncio.get_running_loop() is session_loop


async def test_every_test_runs_on_that_same_loop(
    session_loop: asyncio.AbstractEventLoop,
) -> None:
    assert asyncio.get_running_loop() is session_loop
