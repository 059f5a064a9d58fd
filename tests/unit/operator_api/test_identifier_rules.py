"""Every door of the operator API applies the identifier and amount rules before anything else:
each refusal is a 400 problem naming the field, and nothing is published to the ledger."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.unit.operator_api.conftest import Api

KEY = {"Idempotency-Key": "rules-1"}


def assert_refused(response: httpx.Response, field: str, api: Api) -> None:
    assert response.status_code == 400, response.text
    body: dict[str, Any] = response.json()
    assert response.headers["content-type"].startswith("application/problem+json")
    assert body["field"] == field
    assert field in body["detail"]
    assert api.ledger.sent == []


@pytest.mark.parametrize(
    "user_id",
    ["x/y", "e\u0301", "a\u202eb", "a\u200bb", " padded", "x" * 201, "..", "a\nb"],
    ids=["slash", "nfd", "bidi-override", "zero-width", "space", "201-chars", "dotdot", "newline"],
)
async def test_an_account_is_not_created_for_a_user_id_breaking_the_rules(
    api: Api, user_id: str
) -> None:
    response = await api.http.post("/accounts", json={"user_id": user_id, "currency": "BRL"})

    assert_refused(response, "user_id", api)


@pytest.mark.parametrize(
    "segment",
    ["x" * 201, quote("e\u0301"), quote("a\u202eb"), "%2E%2E"],
    ids=["201-chars", "nfd", "bidi-override", "dotdot"],
)
async def test_a_user_id_in_the_path_breaking_the_rules_is_a_400(api: Api, segment: str) -> None:
    response = await api.http.get(f"/accounts/{segment}/BRL/balance")

    assert_refused(response, "user_id", api)


async def test_a_deposit_to_a_user_id_breaking_the_rules_publishes_nothing(api: Api) -> None:
    path = "/accounts/" + quote("a\u202eb", safe="") + "/BRL/deposits"

    response = await api.http.post(path, json={"amount": "10"}, headers=KEY)

    assert_refused(response, "user_id", api)


@pytest.mark.parametrize(
    "amount",
    ["\uff11\uff10", "1_000", " 5 ", "5 ", "\u0661\u0660", "10\n", "", "1e", True, None, [10]],
    ids=[
        "full-width",
        "underscore",
        "spaces",
        "trailing-space",
        "arabic-indic",
        "newline",
        "empty",
        "half-exponent",
        "boolean",
        "null",
        "list",
    ],
)
async def test_a_deposit_amount_that_is_not_ascii_decimal_text_is_refused(
    api: Api, amount: object
) -> None:
    response = await api.http.post(
        "/accounts/u1/BRL/deposits", json={"amount": amount}, headers=KEY
    )

    assert_refused(response, "amount", api)


async def test_a_free_bet_value_that_is_not_ascii_decimal_text_is_refused(api: Api) -> None:
    grant = {
        "user_id": "u1",
        "currency": "BRL",
        "game": "aviador",
        "quantity": 1,
        "value": "\uff11",
        "expires_at": "2099-01-01T00:00:00Z",
    }

    response = await api.http.post("/free-bets", json=grant)

    assert_refused(response, "value", api)


@pytest.mark.parametrize("currency", ["EU R", "\uff25UR", "E/R", "EURO12345"])
async def test_a_currency_breaking_the_rules_is_refused(api: Api, currency: str) -> None:
    response = await api.http.post("/accounts", json={"user_id": "u1", "currency": currency})

    assert_refused(response, "currency", api)


async def test_a_currency_in_the_path_breaking_the_rules_is_refused(api: Api) -> None:
    response = await api.http.get(f"/accounts/u1/{quote('E R', safe='')}/balance")

    assert_refused(response, "currency", api)


@pytest.mark.parametrize(
    "key", [b"k" * 201, b"key\x85with-a-c1-control"], ids=["201-chars", "c1-control"]
)
async def test_an_idempotency_key_breaking_the_rules_is_refused(api: Api, key: bytes) -> None:
    response = await api.http.post(
        "/accounts/u1/BRL/deposits", json={"amount": "10"}, headers={"Idempotency-Key": key}
    )

    assert_refused(response, "Idempotency-Key", api)


@pytest.mark.parametrize("name", ["round_id", "session_token"])
async def test_a_history_filter_breaking_the_rules_is_refused(api: Api, name: str) -> None:
    response = await api.http.get("/accounts/u1/BRL/transactions", params={name: "r\u202e1"})

    assert_refused(response, name, api)


async def test_a_page_limit_in_other_digits_is_refused(api: Api) -> None:
    response = await api.http.get("/findings", params={"limit": "\uff11\uff10"})

    assert_refused(response, "limit", api)
