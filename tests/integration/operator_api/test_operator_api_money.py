"""Deposits and withdrawals through the real ledger, with the caller's Idempotency-Key."""

from __future__ import annotations

import uuid

import pytest

from tests.integration.operator_api.conftest import Stack

pytestmark = pytest.mark.integration


def key() -> dict[str, str]:
    return {"Idempotency-Key": f"k-{uuid.uuid4().hex}"}


async def balance(stack: Stack, user_id: str) -> str:
    response = await stack.api.get(f"/accounts/{user_id}/BRL/balance")
    return str(response.json()["balance"])


async def test_a_deposit_credits_the_balance(stack: Stack) -> None:
    user_id = await stack.funded()

    response = await stack.api.post(
        f"/accounts/{user_id}/BRL/deposits", json={"amount": "25.50"}, headers=key()
    )

    assert response.status_code == 200
    assert response.json()["new_balance"] == "25.50"
    assert await balance(stack, user_id) == "25.50"


async def test_a_retried_deposit_gets_the_same_answer_byte_for_byte_and_moves_money_once(
    stack: Stack,
) -> None:
    user_id = await stack.funded()
    headers = key()
    first = await stack.api.post(
        f"/accounts/{user_id}/BRL/deposits", json={"amount": "10.00"}, headers=headers
    )

    retry = await stack.api.post(
        f"/accounts/{user_id}/BRL/deposits", json={"amount": "10.00"}, headers=headers
    )

    assert (retry.status_code, retry.content) == (first.status_code, first.content)
    assert await balance(stack, user_id) == "10.00"


async def test_a_key_retried_with_another_amount_is_409_and_moves_nothing(stack: Stack) -> None:
    user_id = await stack.funded()
    headers = key()
    await stack.api.post(
        f"/accounts/{user_id}/BRL/deposits", json={"amount": "10.00"}, headers=headers
    )

    conflict = await stack.api.post(
        f"/accounts/{user_id}/BRL/deposits", json={"amount": "99.00"}, headers=headers
    )

    assert conflict.status_code == 409
    assert conflict.json()["type"].endswith("/duplicate-transaction-mismatch")
    assert await balance(stack, user_id) == "10.00"


async def test_a_deposit_without_an_idempotency_key_is_refused(stack: Stack) -> None:
    user_id = await stack.funded()

    response = await stack.api.post(f"/accounts/{user_id}/BRL/deposits", json={"amount": "1.00"})

    assert response.status_code == 400
    assert response.json()["type"].endswith("/idempotency-key-required")


async def test_a_withdrawal_within_the_balance_debits_it(stack: Stack) -> None:
    user_id = await stack.funded(amount="50.00")

    response = await stack.api.post(
        f"/accounts/{user_id}/BRL/withdrawals", json={"amount": "20.00"}, headers=key()
    )

    assert response.status_code == 200
    assert await balance(stack, user_id) == "30.00"


async def test_a_withdrawal_beyond_the_balance_is_insufficient_funds(stack: Stack) -> None:
    user_id = await stack.funded(amount="5.00")

    response = await stack.api.post(
        f"/accounts/{user_id}/BRL/withdrawals", json={"amount": "5.01"}, headers=key()
    )

    assert response.status_code == 403
    assert response.json()["type"].endswith("/insufficient-funds")
    assert response.json()["balance"] == "5.00"
    assert await balance(stack, user_id) == "5.00"


async def test_a_deposit_to_an_unknown_account_is_account_not_found(stack: Stack) -> None:
    response = await stack.api.post(
        f"/accounts/{stack.user()}/BRL/deposits", json={"amount": "1.00"}, headers=key()
    )

    assert response.status_code == 404
    assert response.json()["type"].endswith("/account-not-found")


async def test_an_amount_finer_than_the_currency_is_invalid_amount(stack: Stack) -> None:
    user_id = await stack.funded()

    response = await stack.api.post(
        f"/accounts/{user_id}/BRL/deposits", json={"amount": "0.001"}, headers=key()
    )

    assert response.status_code == 400
    assert response.json()["type"].endswith("/invalid-amount")


async def test_a_replayed_answer_is_marked_as_a_replay(stack: Stack) -> None:
    user_id = await stack.funded()
    headers = key()
    await stack.api.post(
        f"/accounts/{user_id}/BRL/deposits", json={"amount": "3.00"}, headers=headers
    )

    retry = await stack.api.post(
        f"/accounts/{user_id}/BRL/deposits", json={"amount": "3.00"}, headers=headers
    )

    assert retry.headers["Idempotent-Replayed"] == "true"
