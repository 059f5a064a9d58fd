"""The real stack for the operator API's integration tests, shared by the tests of one module.

Real Postgres (the run's migrated database), the real broker with topics unique to the module,
the real ledger consumer in-process, the simulator standing in for Hypetech over real HTTP, and
the operator API itself served by uvicorn on a free port. Tests use unique player ids instead of
cleaning tables.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from services.ledger.settings import LedgerSettings
from services.operator_api.app import create_app
from services.operator_api.settings import OperatorApiSettings
from services.simulator.app import create_app as create_simulator
from services.simulator.serve import running
from services.simulator.settings import SimulatorSettings
from shared.contracts.topics import COMMANDS, COMMANDS_DLQ, TRANSACTIONS
from shared.infra.processes import free_port
from shared.kafka import ensure_topics
from tests.integration.ledger.ledger_harness import running_ledger

TOKEN = "operator-integration-token-0123456789"
SIMULATOR_TOKEN = "simulator-integration-token-0123456789"
WEBHOOK_KEY = "webhook-integration-key-0123456789"


@dataclass
class Stack:
    api: httpx.AsyncClient
    """Authenticated client of the operator API."""
    api_url: str
    simulator_url: str
    simulator: Any
    """The in-process ``Simulator`` (its truth is the provider's side of every check)."""
    settings: OperatorApiSettings
    env: dict[str, Any]
    """Settings kwargs shared by every service of this stack (broker, database, topic prefix)."""

    def user(self) -> str:
        return f"p-{uuid.uuid4().hex[:12]}"

    async def funded(self, currency: str = "BRL", amount: str | None = None) -> str:
        """A new player with an account, and a deposit of ``amount`` when given."""
        user_id = self.user()
        created = await self.api.post("/accounts", json={"user_id": user_id, "currency": currency})
        assert created.status_code == 200, created.text
        if amount is not None:
            deposit = await self.api.post(
                f"/accounts/{user_id}/{currency}/deposits",
                json={"amount": amount},
                headers={"Idempotency-Key": f"fund-{user_id}"},
            )
            assert deposit.status_code == 200, deposit.text
        return user_id


@contextlib.asynccontextmanager
async def stack_for(
    common_env: dict[str, Any], *, ingress_url: str | None = None
) -> AsyncIterator[Stack]:
    env = {**common_env, "topic_prefix": f"op{uuid.uuid4().hex[:8]}."}
    ledger_settings = LedgerSettings(
        **env, consumer_group=f"ledger-{uuid.uuid4().hex[:8]}", metrics_port=free_port()
    )
    await ensure_topics(ledger_settings, {COMMANDS: 4, COMMANDS_DLQ: 1, TRANSACTIONS: 4})
    sim_port = free_port()
    sim_settings = SimulatorSettings(
        port=sim_port,
        api_token=SIMULATOR_TOKEN,
        webhook_base_url=ingress_url or "http://127.0.0.1:9",
        webhook_api_key=WEBHOOK_KEY,
        seed=11,
        server_secret="b" * 64,
        chain_length=500,
        betting_window_s=0,
        webhook_backoff_s=0,
        webhook_timeout_s=5,
    )
    simulator_app = create_simulator(sim_settings)
    api_port = free_port()
    settings = OperatorApiSettings(
        **env,
        port=api_port,
        operator_tokens=[TOKEN],
        hypetech_base_url=f"http://127.0.0.1:{sim_port}",
        hypetech_api_token=SIMULATOR_TOKEN,
        hypetech_max_retries=0,
        ledger_timeout_s=10.0,
    )
    async with (
        running_ledger(ledger_settings),
        running(simulator_app, port=sim_port) as simulator_url,
        running(create_app(settings), port=api_port) as api_url,
        httpx.AsyncClient(
            base_url=api_url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30.0
        ) as api,
    ):
        yield Stack(api, api_url, simulator_url, simulator_app.state.simulator, settings, env)


@pytest.fixture(scope="module")
async def stack(common_env: dict[str, Any]) -> AsyncIterator[Stack]:
    async with stack_for(common_env) as built:
        yield built


async def eventually(check: Any, *, attempts: int = 100, pause_s: float = 0.05) -> Any:
    """Poll ``check()`` until it returns something truthy (bounded); return that."""
    for _ in range(attempts):
        result = await check()
        if result:
            return result
        await asyncio.sleep(pause_s)
    raise AssertionError("the condition did not hold in time")
