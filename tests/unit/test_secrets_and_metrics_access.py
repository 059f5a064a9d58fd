"""Secrets have a floor in production, and /metrics takes a token when one is configured.

The ingress's guarded paths are tested with its own fakes in tests/unit/ingress.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from services.ingress.settings import IngressSettings
from services.ledger.settings import LedgerSettings
from services.operator_api.app import Dependencies
from services.operator_api.app import create_app as create_operator_api
from services.operator_api.settings import OperatorApiSettings
from shared.probes import probes_app
from shared.settings import MIN_PROVIDER_SECRET_LENGTH, MIN_SECRET_LENGTH
from tests.unit.operator_api.fakes import FakeLedger, FakeProvider, FakeStore

METRICS_TOKEN = "m" * MIN_SECRET_LENGTH
PROVIDER_SECRET = "p" * MIN_PROVIDER_SECRET_LENGTH


def production_api(**overrides: Any) -> OperatorApiSettings:
    values: dict[str, Any] = {
        "environment": "production",
        "operator_tokens": ["o" * MIN_SECRET_LENGTH],
        "hypetech_api_token": PROVIDER_SECRET,
    }
    values.update(overrides)
    return OperatorApiSettings(**values)


def test_production_takes_secrets_at_their_floor() -> None:
    settings = production_api(metrics_token=METRICS_TOKEN)

    assert settings.metrics_token is not None


def test_a_short_operator_token_is_refused_in_production() -> None:
    with pytest.raises(ValidationError, match="OPERATOR_TOKENS must be at least 32"):
        production_api(operator_tokens=["o" * (MIN_SECRET_LENGTH - 1)])


def test_a_short_metrics_token_is_refused_in_production() -> None:
    with pytest.raises(ValidationError, match="METRICS_TOKEN must be at least 32"):
        production_api(metrics_token="m" * (MIN_SECRET_LENGTH - 1))


def test_a_short_hypetech_token_is_refused_in_production() -> None:
    with pytest.raises(ValidationError, match="HYPETECH_API_TOKEN must be at least 16"):
        production_api(hypetech_api_token="p" * (MIN_PROVIDER_SECRET_LENGTH - 1))


def test_a_short_webhook_key_is_refused_in_production() -> None:
    with pytest.raises(ValidationError, match="HYPETECH_API_KEYS must be at least 16"):
        IngressSettings(environment="production", hypetech_api_keys="short-key")


def test_development_takes_short_secrets() -> None:
    assert OperatorApiSettings(environment="development", operator_tokens=["t"]).operator_tokens


def _operator_api(token: str | None) -> httpx.AsyncClient:
    settings = OperatorApiSettings(
        environment="test", operator_tokens=["o" * 32], metrics_token=token
    )
    app = create_operator_api(
        settings, Dependencies(store=FakeStore(), ledger=FakeLedger(), provider=FakeProvider())
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api")


def _ledger_probes(token: str | None) -> httpx.AsyncClient:
    async def ready() -> dict[str, bool]:
        return {"database": True}

    settings = LedgerSettings(environment="test", metrics_token=token)
    app = probes_app(CollectorRegistry(), ready, metrics_token=settings.metrics_token)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ledger")


SERVERS = {"operator-api": _operator_api, "ledger": _ledger_probes}
GUARDED = [("operator-api", "/metrics"), ("ledger", "/metrics")]


async def _status(server: str, path: str, token: str | None, headers: Mapping[str, str]) -> int:
    async with SERVERS[server](token) as client:
        return (await client.get(path, headers=dict(headers))).status_code


@pytest.mark.parametrize(("server", "path"), GUARDED)
async def test_a_guarded_path_answers_401_without_the_metrics_token(server: str, path: str) -> None:
    assert await _status(server, path, METRICS_TOKEN, {}) == 401


@pytest.mark.parametrize(("server", "path"), GUARDED)
async def test_a_guarded_path_answers_401_to_another_token(server: str, path: str) -> None:
    wrong = {"Authorization": f"Bearer {'x' * MIN_SECRET_LENGTH}"}

    assert await _status(server, path, METRICS_TOKEN, wrong) == 401


@pytest.mark.parametrize(("server", "path"), GUARDED)
async def test_a_guarded_path_answers_the_metrics_token(server: str, path: str) -> None:
    right = {"Authorization": f"Bearer {METRICS_TOKEN}"}

    assert await _status(server, path, METRICS_TOKEN, right) == 200


@pytest.mark.parametrize(("server", "path"), GUARDED)
async def test_without_a_metrics_token_the_guarded_paths_stay_open(server: str, path: str) -> None:
    assert await _status(server, path, None, {}) == 200


@pytest.mark.parametrize("server", sorted(SERVERS))
async def test_liveness_never_needs_the_metrics_token(server: str) -> None:
    assert await _status(server, "/healthz", METRICS_TOKEN, {}) == 200
