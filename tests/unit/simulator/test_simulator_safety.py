"""The simulator cannot be deployed by mistake: no production, loopback by default, a real check."""

from __future__ import annotations

import httpx
import pytest
from pydantic import ValidationError

from services.simulator.app import create_app
from services.simulator.settings import SimulatorSettings

TOKEN = "a-simulator-token-for-these-tests"


def test_the_simulator_refuses_to_start_in_production() -> None:
    with pytest.raises(ValidationError, match="does not run in production"):
        SimulatorSettings(environment="production")


def test_the_simulator_refuses_the_environment_every_service_is_deployed_with(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HYPELEDGER_ENVIRONMENT", "production")

    with pytest.raises(ValidationError, match="does not run in production"):
        SimulatorSettings()


def test_the_simulator_runs_where_its_own_environment_says_development(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HYPELEDGER_ENVIRONMENT", "production")
    monkeypatch.setenv("HYPELEDGER_SIMULATOR_ENVIRONMENT", "development")

    assert SimulatorSettings().environment == "development"


def test_the_simulator_listens_on_loopback_unless_told_otherwise() -> None:
    assert SimulatorSettings().host == "127.0.0.1"


async def _get_games(authorization: str | bytes | None) -> int:
    app = create_app(SimulatorSettings(api_token=TOKEN))
    headers = {} if authorization is None else {"authorization": authorization}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://sim"
    ) as client:
        response = await client.get("/games", headers=headers)
    return response.status_code


async def test_the_rest_api_answers_its_own_token() -> None:
    assert await _get_games(f"Bearer {TOKEN}") == 200


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer simulator-token",
        f"Bearer {TOKEN[:-1]}",
        f"Bearer {TOKEN}x",
        f"bearer {TOKEN}",
        f"Bearer {TOKEN[:-1]}\u00e9".encode("latin-1"),
    ],
    ids=["none", "empty", "the-old-default", "a-prefix", "longer", "lower-case-scheme", "latin-1"],
)
async def test_the_rest_api_refuses_any_other_token(authorization: str | bytes | None) -> None:
    assert await _get_games(authorization) == 401
