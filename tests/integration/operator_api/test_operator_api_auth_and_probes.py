"""Bearer auth, probes, metrics and the OpenAPI document, over real HTTP."""

from __future__ import annotations

import httpx
import pytest

from tests.integration.operator_api.conftest import Stack

pytestmark = pytest.mark.integration


async def test_a_request_without_a_token_is_401_unauthorized(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.api_url) as anonymous:
        response = await anonymous.get("/findings")

    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_a_request_with_a_wrong_token_is_401(stack: Stack) -> None:
    async with httpx.AsyncClient(
        base_url=stack.api_url, headers={"Authorization": "Bearer not-the-token"}
    ) as stranger:
        response = await stranger.post("/accounts", json={"user_id": "x", "currency": "BRL"})

    assert response.status_code == 401
    assert response.json()["type"].endswith("/unauthorized")


async def test_a_token_of_another_scheme_is_401(stack: Stack) -> None:
    async with httpx.AsyncClient(
        base_url=stack.api_url, headers={"Authorization": "Basic b3BlcmF0b3I6cHc="}
    ) as stranger:
        response = await stranger.get("/findings")

    assert response.status_code == 401


async def test_readiness_reports_the_database_and_the_ledger_link(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.api_url) as anonymous:
        response = await anonymous.get("/readyz")

    assert response.status_code == 200
    assert response.json()["checks"] == {"database": True, "ledger_link": True}


async def test_liveness_answers_without_a_token(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.api_url) as anonymous:
        response = await anonymous.get("/healthz")

    assert response.json() == {"status": "ok"}


async def test_metrics_count_answered_requests_by_route(stack: Stack) -> None:
    await stack.api.get(f"/accounts/{stack.user()}/BRL")

    async with httpx.AsyncClient(base_url=stack.api_url) as anonymous:
        text = (await anonymous.get("/metrics")).text

    expected = 'requests_total{method="GET",route="show_account",status="404"}'
    assert expected in text


async def test_the_openapi_document_is_served_and_names_the_bearer_scheme(stack: Stack) -> None:
    document = (await stack.api.get("/openapi.json")).json()

    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert "/accounts/{user_id}/{currency}/deposits" in document["paths"]


async def test_the_openapi_document_needs_an_operator_token(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.api_url) as anonymous:
        response = await anonymous.get("/openapi.json")

    assert response.status_code == 401
