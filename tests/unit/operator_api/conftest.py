from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from services.operator_api.app import Dependencies, create_app
from services.operator_api.settings import OperatorApiSettings
from tests.unit.operator_api.fakes import FakeLedger, FakeProvider, FakeStore

TOKEN = "unit-test-token"


@dataclass
class Api:
    http: httpx.AsyncClient
    store: FakeStore
    ledger: FakeLedger
    provider: FakeProvider


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    store, ledger, provider = FakeStore(), FakeLedger(), FakeProvider()
    settings = OperatorApiSettings(environment="test", operator_tokens=["other-token", TOKEN])
    app = create_app(settings, Dependencies(store=store, ledger=ledger, provider=provider))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://operator-api",
        headers={"Authorization": f"Bearer {TOKEN}"},
    ) as http:
        yield Api(http, store, ledger, provider)
