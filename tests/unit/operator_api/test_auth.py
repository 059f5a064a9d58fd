from __future__ import annotations

import httpx
from pydantic import SecretStr

from services.operator_api.auth import bearer_token, token_matches
from tests.unit.operator_api.conftest import Api

TOKENS = [SecretStr("first"), SecretStr("second")]


def test_any_configured_token_matches() -> None:
    assert token_matches("second", TOKENS)


def test_a_prefix_of_a_token_does_not_match() -> None:
    assert not token_matches("secon", TOKENS)


def test_no_token_matches_when_none_is_configured() -> None:
    assert not token_matches("anything", [])


def test_the_bearer_scheme_is_read_case_insensitively() -> None:
    assert bearer_token("bearer abc") == "abc"


def test_another_scheme_gives_no_token() -> None:
    assert bearer_token("Basic abc") is None


async def test_a_request_without_a_token_gets_a_401_problem(api: Api) -> None:
    response = await api.http.get("/accounts/u1/BRL", headers={"Authorization": ""})

    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith("/unauthorized")


async def test_a_request_with_a_wrong_token_gets_a_401(api: Api) -> None:
    response = await api.http.get("/accounts/u1/BRL", headers={"Authorization": "Bearer nope"})

    assert response.status_code == 401


async def test_health_answers_without_a_token(api: Api) -> None:
    async with httpx.AsyncClient(transport=api.http._transport, base_url="http://x") as bare:
        response = await bare.get("/healthz")

    assert response.status_code == 200
