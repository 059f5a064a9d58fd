"""The operator API's OpenAPI document states what the server enforces and what it answers."""

from __future__ import annotations

from typing import Any

import pytest

from services.operator_api import openapi
from services.operator_api.pages import MAX_LIMIT
from shared.currencies import ISO_4217_EXPONENTS
from tests.unit.operator_api.conftest import Api
from tests.unit.operator_api.openapi_check import response_problems

DOCUMENT = openapi.document()
OPERATIONS = [
    (path, method, operation)
    for path, methods in DOCUMENT["paths"].items()
    for method, operation in methods.items()
]


def parameter(operation: dict[str, Any], name: str) -> dict[str, Any] | None:
    return next((p for p in operation.get("parameters", []) if p["name"] == name), None)


def resolved(schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref is None:
        return schema
    found: dict[str, Any] = DOCUMENT["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    return found


def test_every_limit_is_documented_from_1_to_500() -> None:
    limits = [parameter(op, "limit") for _, _, op in OPERATIONS if parameter(op, "limit")]

    assert len(limits) >= 4
    for limit in limits:
        assert limit is not None
        assert (limit["schema"]["minimum"], limit["schema"]["maximum"]) == (1, MAX_LIMIT)


def test_every_currency_is_a_documented_iso_code() -> None:
    currencies = [parameter(op, "currency") for _, _, op in OPERATIONS if parameter(op, "currency")]

    assert len(currencies) >= 8
    for currency in currencies:
        assert currency is not None
        assert resolved(currency["schema"])["enum"] == sorted(ISO_4217_EXPONENTS)


@pytest.mark.parametrize(("path", "method", "operation"), OPERATIONS, ids=lambda v: str(v)[:40])
def test_every_response_has_a_schema_and_errors_are_problems(
    path: str, method: str, operation: dict[str, Any]
) -> None:
    for status, response in operation["responses"].items():
        content = response.get("content", {})
        if path == "/metrics":
            assert "text/plain" in content
            continue
        if int(status) >= 400 and status != "503":
            assert list(content) == ["application/problem+json"], (path, status)
        for media in content.values():
            schema = resolved(media["schema"])
            assert schema != {"type": "object"}, (path, status)
            assert "properties" in schema or "$ref" in schema or "enum" in schema


@pytest.mark.parametrize("limit", ["0", str(MAX_LIMIT + 1), "-1", "ten"])
async def test_a_limit_outside_the_documented_range_is_refused_as_documented(
    api: Api, limit: str
) -> None:
    api.store.add_account("u1", "BRL")
    path = "/accounts/{user_id}/{currency}/transactions"

    response = await api.http.get("/accounts/u1/BRL/transactions", params={"limit": limit})

    assert response.status_code == 400
    assert response_problems(path, "GET", response) == []


@pytest.mark.parametrize("limit", ["1", str(MAX_LIMIT)])
async def test_a_limit_inside_the_documented_range_is_accepted(api: Api, limit: str) -> None:
    api.store.add_account("u1", "BRL")

    response = await api.http.get("/accounts/u1/BRL/transactions", params={"limit": limit})

    assert response.status_code == 200


async def test_an_account_and_its_balance_answer_as_documented(api: Api) -> None:
    api.store.add_account("u1", "BRL", balance=205000)

    account = await api.http.get("/accounts/u1/BRL")
    balance = await api.http.get("/accounts/u1/BRL/balance")

    assert response_problems("/accounts/{user_id}/{currency}", "GET", account) == []
    assert response_problems("/accounts/{user_id}/{currency}/balance", "GET", balance) == []


async def test_probes_and_problems_answer_as_documented(api: Api) -> None:
    alive = await api.http.get("/healthz")
    ready = await api.http.get("/readyz")
    missing = await api.http.get("/accounts/nobody/BRL")
    unknown = await api.http.get("/findings/123")

    assert response_problems("/healthz", "GET", alive) == []
    assert response_problems("/readyz", "GET", ready) == []
    assert response_problems("/accounts/{user_id}/{currency}", "GET", missing) == []
    assert response_problems("/findings/{finding_id}", "GET", unknown) == []
