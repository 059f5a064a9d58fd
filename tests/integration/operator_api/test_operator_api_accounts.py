"""Accounts through the real ledger: create, show, list, block, unblock."""

from __future__ import annotations

import pytest

from tests.integration.operator_api.conftest import Stack

pytestmark = pytest.mark.integration


async def test_creating_an_account_answers_with_the_ledgers_decision(stack: Stack) -> None:
    user_id = stack.user()

    response = await stack.api.post("/accounts", json={"user_id": user_id, "currency": "BRL"})

    assert response.status_code == 200
    body = response.json()
    assert (body["user_id"], body["currency"], body["status"], body["new_balance"]) == (
        user_id,
        "BRL",
        "active",
        "0.00",
    )


@pytest.mark.parametrize("currency", ["AOA", "LKR"])
async def test_an_account_opens_in_a_currency_of_iso_4217s_whole_table(
    stack: Stack, currency: str
) -> None:
    user_id = stack.user()

    opened = await stack.api.post("/accounts", json={"user_id": user_id, "currency": currency})
    shown = await stack.api.get(f"/accounts/{user_id}/{currency}")

    assert opened.status_code == 200, opened.text
    assert (shown.status_code, shown.json()["currency"], shown.json()["balance"]) == (
        200,
        currency,
        "0.00",
    )


async def test_creating_an_existing_account_is_account_exists(stack: Stack) -> None:
    user_id = await stack.funded()

    response = await stack.api.post("/accounts", json={"user_id": user_id, "currency": "BRL"})

    assert response.status_code == 409
    assert response.json()["type"].endswith("/account-exists")


async def test_an_account_shows_its_balance_and_state(stack: Stack) -> None:
    user_id = await stack.funded(amount="12.34")

    response = await stack.api.get(f"/accounts/{user_id}/BRL")

    assert response.status_code == 200
    assert (response.json()["balance"], response.json()["blocked"]) == ("12.34", False)


async def test_an_unknown_account_is_account_not_found(stack: Stack) -> None:
    response = await stack.api.get(f"/accounts/{stack.user()}/BRL")

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith("/account-not-found")


async def test_a_players_accounts_are_listed_one_per_currency(stack: Stack) -> None:
    user_id = await stack.funded("BRL")
    await stack.api.post("/accounts", json={"user_id": user_id, "currency": "USD"})

    response = await stack.api.get(f"/players/{user_id}/accounts")

    assert [a["currency"] for a in response.json()["items"]] == ["BRL", "USD"]


async def test_blocking_marks_the_account_blocked(stack: Stack) -> None:
    user_id = await stack.funded()

    blocked = await stack.api.post(f"/accounts/{user_id}/BRL/block", json={"reason": "fraud check"})

    assert blocked.status_code == 200
    assert (await stack.api.get(f"/accounts/{user_id}/BRL")).json()["blocked"] is True


async def test_unblocking_makes_the_account_active_again(stack: Stack) -> None:
    user_id = await stack.funded()
    await stack.api.post(f"/accounts/{user_id}/BRL/block")

    unblocked = await stack.api.post(f"/accounts/{user_id}/BRL/unblock")

    assert unblocked.status_code == 200
    assert (await stack.api.get(f"/accounts/{user_id}/BRL")).json()["blocked"] is False


async def test_blocking_an_unknown_account_is_account_not_found(stack: Stack) -> None:
    response = await stack.api.post(f"/accounts/{stack.user()}/BRL/block")

    assert response.status_code == 404
    assert response.json()["type"].endswith("/account-not-found")


async def test_an_unknown_currency_is_refused_before_the_ledger(stack: Stack) -> None:
    response = await stack.api.post("/accounts", json={"user_id": stack.user(), "currency": "ZZZ"})

    assert response.status_code == 400
    assert response.json()["type"].endswith("/unknown-currency")


async def test_a_user_id_over_200_characters_in_the_path_is_a_400_problem(stack: Stack) -> None:
    response = await stack.api.get(f"/accounts/{'x' * 201}/BRL/balance")

    assert response.status_code == 400
    assert response.json()["field"] == "user_id"


async def test_a_decomposed_user_id_cannot_open_a_look_alike_account(stack: Stack) -> None:
    composed = f"jos\u00e9-{stack.user()}"
    decomposed = composed.replace("\u00e9", "e\u0301")
    await stack.api.post("/accounts", json={"user_id": composed, "currency": "BRL"})

    response = await stack.api.post("/accounts", json={"user_id": decomposed, "currency": "BRL"})

    assert response.status_code == 400
    assert response.json()["field"] == "user_id"
    listed = await stack.api.get(f"/players/{composed}/accounts")
    assert [a["user_id"] for a in listed.json()["items"]] == [composed]


async def test_an_account_named_with_a_slash_is_refused_before_it_exists(stack: Stack) -> None:
    user_id = f"x/{stack.user()}"

    response = await stack.api.post("/accounts", json={"user_id": user_id, "currency": "BRL"})

    assert response.status_code == 400
    assert response.json()["field"] == "user_id"
