"""A player funded through the API, launched into the simulator and played for a few rounds:
the webhooks go through the real ingress and ledger, and the history adds up to the balance."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from services.ingress.app import create_app as create_ingress
from services.simulator.serve import running
from shared.infra.processes import free_port
from shared.settings import IngressSettings
from tests.integration.operator_api.conftest import (
    SIMULATOR_TOKEN,
    WEBHOOK_KEY,
    Stack,
    stack_for,
)

pytestmark = pytest.mark.integration

ROUNDS = 6


@pytest.fixture(scope="module")
async def played(common_env: dict[str, Any]) -> AsyncIterator[tuple[Stack, str]]:
    """The whole stack with an ingress, and one player who deposited 100.00 and played."""
    ingress_port = free_port()
    ingress_url = f"http://127.0.0.1:{ingress_port}"
    async with stack_for(common_env, ingress_url=ingress_url) as stack:
        ingress = create_ingress(
            IngressSettings(
                **stack.env,
                port=ingress_port,
                public_base_url=ingress_url,
                hypetech_api_keys=[WEBHOOK_KEY],
                ledger_timeout_s=10.0,
            )
        )
        async with running(ingress, port=ingress_port):
            user_id = await stack.funded(amount="100.00")
            launched = await stack.api.post(
                "/sessions",
                json={"user_id": user_id, "game": "aviador", "username": "Bia", "language": "pt"},
            )
            assert launched.status_code == 201, launched.text
            async with httpx.AsyncClient(
                base_url=stack.simulator_url,
                headers={"Authorization": f"Bearer {SIMULATOR_TOKEN}"},
                timeout=120.0,
            ) as simulator:
                status = await simulator.post("/_sim/play", json={"rounds": ROUNDS})
                assert status.status_code == 200, status.text
            yield stack, user_id


async def every_row(stack: Stack, path: str, **filters: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(200):
        params: dict[str, Any] = {**filters, "limit": 10, **({"cursor": cursor} if cursor else {})}
        page = (await stack.api.get(path, params=params)).json()
        rows += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return rows
    raise AssertionError("the pages never ended")


async def test_the_player_placed_bets_through_the_ingress(played: tuple[Stack, str]) -> None:
    stack, user_id = played

    rows = await every_row(stack, f"/accounts/{user_id}/BRL/transactions")

    assert any(row["kind"] == "bet" for row in rows)


async def test_the_transactions_add_up_to_the_balance(played: tuple[Stack, str]) -> None:
    stack, user_id = played

    rows = await every_row(stack, f"/accounts/{user_id}/BRL/transactions")

    balance = (await stack.api.get(f"/accounts/{user_id}/BRL/balance")).json()["balance"]
    assert sum(Decimal(row["amount"]) for row in rows) == Decimal(balance)


async def test_the_postings_add_up_to_the_balance(played: tuple[Stack, str]) -> None:
    stack, user_id = played

    rows = await every_row(stack, f"/accounts/{user_id}/BRL/postings")

    balance = (await stack.api.get(f"/accounts/{user_id}/BRL/balance")).json()["balance"]
    assert sum(Decimal(row["amount"]) for row in rows) == Decimal(balance)


async def test_the_balance_is_the_one_the_provider_expects(played: tuple[Stack, str]) -> None:
    stack, user_id = played

    balance = (await stack.api.get(f"/accounts/{user_id}/BRL/balance")).json()["balance"]

    expected = stack.simulator.truth.player(user_id, "BRL").expected_operator_minor
    assert Decimal(balance) * 100 == expected


async def test_a_rounds_transactions_can_be_listed_alone(played: tuple[Stack, str]) -> None:
    stack, user_id = played
    rows = await every_row(stack, f"/accounts/{user_id}/BRL/transactions")
    round_id = next(row["round_id"] for row in rows if row["kind"] == "bet")

    response = await stack.api.get(
        f"/accounts/{user_id}/BRL/transactions", params={"round_id": round_id}
    )

    items = response.json()["items"]
    assert items
    assert {row["round_id"] for row in items} == {round_id}


async def test_the_sessions_transactions_are_the_webhooks_ones(played: tuple[Stack, str]) -> None:
    stack, user_id = played
    rows = await every_row(stack, f"/accounts/{user_id}/BRL/transactions")
    session_token = next(row["session_token"] for row in rows if row["kind"] == "bet")

    in_session = await every_row(
        stack, f"/accounts/{user_id}/BRL/transactions", session_token=session_token
    )

    assert sorted(r["operator_tx_id"] for r in in_session) == sorted(
        r["operator_tx_id"] for r in rows if r["kind"] != "deposit"
    )
