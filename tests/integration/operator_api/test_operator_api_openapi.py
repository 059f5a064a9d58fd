"""Every answer of the real operator API, on real data, is what its OpenAPI document says."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from tests.integration.operator_api.conftest import Stack
from tests.integration.operator_api.test_operator_api_findings import a_finding
from tests.unit.operator_api.openapi_check import response_problems

pytestmark = pytest.mark.integration

ACCOUNT = "/accounts/{user_id}/{currency}"


async def test_money_commands_and_history_answer_as_documented(stack: Stack) -> None:
    user_id = await stack.funded(amount="12.50")

    deposit = await stack.api.post(
        f"/accounts/{user_id}/BRL/deposits",
        json={"amount": "1.00"},
        headers={"Idempotency-Key": f"doc-{user_id}"},
    )
    refused = await stack.api.post(
        f"/accounts/{user_id}/BRL/withdrawals",
        json={"amount": "999.00"},
        headers={"Idempotency-Key": f"doc-w-{user_id}"},
    )
    transactions = await stack.api.get(f"/accounts/{user_id}/BRL/transactions")
    postings = await stack.api.get(f"/accounts/{user_id}/BRL/postings", params={"limit": 1})
    accounts = await stack.api.get(f"/players/{user_id}/accounts")

    assert response_problems(f"{ACCOUNT}/deposits", "POST", deposit) == []
    assert response_problems(f"{ACCOUNT}/withdrawals", "POST", refused) == []
    assert refused.status_code == 403
    assert response_problems(f"{ACCOUNT}/transactions", "GET", transactions) == []
    assert len(transactions.json()["items"]) == 2
    assert response_problems(f"{ACCOUNT}/postings", "GET", postings) == []
    assert postings.json()["next_cursor"] is not None
    assert response_problems("/players/{user_id}/accounts", "GET", accounts) == []


async def test_launches_and_free_bets_answer_as_documented(stack: Stack) -> None:
    user_id = await stack.funded(amount="3.00")

    launch = await stack.api.post(
        "/sessions", json={"user_id": user_id, "game": "aviador", "username": "Ana"}
    )
    grant = await stack.api.post(
        "/free-bets",
        json={
            "user_id": user_id,
            "currency": "BRL",
            "game": "aviador",
            "quantity": 2,
            "value": "1.50",
            "expires_at": "2099-01-01T00:00:00Z",
        },
    )
    grants = await stack.api.get(f"/accounts/{user_id}/BRL/free-bets")

    assert response_problems("/sessions", "POST", launch) == []
    assert response_problems("/free-bets", "POST", grant) == []
    assert response_problems(f"{ACCOUNT}/free-bets", "GET", grants) == []
    assert len(grants.json()["items"]) == 1


async def test_findings_answer_as_documented(stack: Stack, db_pool: asyncpg.Pool) -> None:
    session_id = uuid.uuid4().hex
    finding_id = await a_finding(db_pool, session_id)

    listed = await stack.api.get("/findings", params={"session_id": session_id})
    changed = await stack.api.post(
        f"/findings/{finding_id}/status",
        json={"status": "ignored", "changed_by": "ops", "note": "test data"},
    )
    shown = await stack.api.get(f"/findings/{finding_id}")

    assert response_problems("/findings", "GET", listed) == []
    assert response_problems("/findings/{finding_id}/status", "POST", changed) == []
    assert response_problems("/findings/{finding_id}", "GET", shown) == []
    assert [c["to_status"] for c in shown.json()["changes"]] == ["ignored"]
