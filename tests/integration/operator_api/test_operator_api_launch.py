"""Game launch and free bets against the simulator over real HTTP."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from shared.db.pool import DEFAULT_MAX_SIZE
from tests.integration.operator_api.conftest import Stack

pytestmark = pytest.mark.integration


def launch_body(user_id: str, game: str = "aviador") -> dict[str, str]:
    return {
        "user_id": user_id,
        "game": game,
        "language": "pt",
        "username": "Ana",
        "avatar": "https://example.org/ana.png",
    }


def grant_body(user_id: str, game: str = "aviador") -> dict[str, object]:
    return {
        "user_id": user_id,
        "currency": "BRL",
        "game": game,
        "quantity": 3,
        "value": "2.50",
        "expires_at": (datetime.now(UTC) + timedelta(days=7)).isoformat(),
        "bonus_code": "WELCOME3",
    }


async def test_a_launch_returns_the_providers_game_url(stack: Stack) -> None:
    user_id = await stack.funded(amount="20.00")

    response = await stack.api.post("/sessions", json=launch_body(user_id))

    assert response.status_code == 201
    assert response.json()["game_url"].startswith(stack.simulator_url)
    assert response.json()["balance"] == "20.00"


async def test_a_launch_stores_the_session_under_the_urls_last_segment(
    stack: Stack, db_pool: asyncpg.Pool
) -> None:
    user_id = await stack.funded(amount="20.00")

    body = (await stack.api.post("/sessions", json=launch_body(user_id))).json()

    row = await db_pool.fetchrow(
        "SELECT user_id, currency, game FROM sessions WHERE token = $1",
        body["game_url"].rstrip("/").rsplit("/", 1)[-1],
    )
    assert tuple(row) == (user_id, "BRL", "aviador")


async def test_the_provider_is_told_the_balance_read_from_the_database(stack: Stack) -> None:
    user_id = await stack.funded(amount="33.10")

    await stack.api.post("/sessions", json=launch_body(user_id))

    assert stack.simulator.truth.player(user_id, "BRL").provider_minor == 3310


async def test_a_launch_for_an_unknown_player_is_account_not_found(stack: Stack) -> None:
    user_id = stack.user()

    response = await stack.api.post("/sessions", json=launch_body(user_id))

    assert response.status_code == 404
    assert response.json()["type"].endswith("/account-not-found")
    assert all(s.user_id != user_id for s in stack.simulator.truth.sessions.values())


async def test_a_launch_for_a_blocked_player_is_player_blocked(stack: Stack) -> None:
    user_id = await stack.funded(amount="5.00")
    await stack.api.post(f"/accounts/{user_id}/BRL/block")

    response = await stack.api.post("/sessions", json=launch_body(user_id))

    assert response.status_code == 403
    assert response.json()["type"].endswith("/player-blocked")


async def test_a_game_the_provider_does_not_list_is_a_404_without_the_providers_words(
    stack: Stack,
) -> None:
    user_id = await stack.funded()

    response = await stack.api.post("/sessions", json=launch_body(user_id, game="no-such-game"))

    assert response.status_code == 404
    assert (response.json()["type"].endswith("/game-not-found"), response.json()["field"]) == (
        True,
        "game",
    )
    assert "There is no game" not in response.text


async def test_a_free_bet_grant_reaches_the_provider_and_is_recorded(stack: Stack) -> None:
    user_id = await stack.funded()

    response = await stack.api.post("/free-bets", json=grant_body(user_id))

    assert response.status_code == 201
    assert (
        response.json()["quantity"],
        response.json()["remaining"],
        response.json()["value"],
    ) == (
        3,
        3,
        "2.50",
    )
    assert [g.bonus_code for g in stack.simulator.truth.free_bets if g.user_id == user_id] == [
        "WELCOME3"
    ]


async def test_a_players_grants_are_listed_newest_first(stack: Stack) -> None:
    user_id = await stack.funded()
    await stack.api.post("/free-bets", json={**grant_body(user_id), "bonus_code": "FIRST"})
    await stack.api.post("/free-bets", json={**grant_body(user_id), "bonus_code": "SECOND"})

    response = await stack.api.get(f"/accounts/{user_id}/BRL/free-bets")

    assert [g["bonus_code"] for g in response.json()["items"]] == ["SECOND", "FIRST"]


async def test_a_grant_the_provider_refuses_is_not_recorded(stack: Stack) -> None:
    user_id = await stack.funded()

    response = await stack.api.post("/free-bets", json=grant_body(user_id, game="no-such-game"))

    assert response.status_code == 404
    assert response.json()["type"].endswith("/game-not-found")
    listed = await stack.api.get(f"/accounts/{user_id}/BRL/free-bets")
    assert listed.json()["items"] == []


async def test_a_grant_for_an_unknown_player_is_account_not_found(stack: Stack) -> None:
    response = await stack.api.post("/free-bets", json=grant_body(stack.user()))

    assert response.status_code == 404


async def test_a_grant_retried_with_its_key_is_granted_once(stack: Stack) -> None:
    user_id = await stack.funded()
    headers = {"Idempotency-Key": f"grant-{user_id}"}
    body = grant_body(user_id)
    first = await stack.api.post("/free-bets", json=body, headers=headers)

    retry = await stack.api.post("/free-bets", json=body, headers=headers)

    assert retry.json() == first.json()
    assert len([g for g in stack.simulator.truth.free_bets if g.user_id == user_id]) == 1


async def test_concurrent_grants_with_one_key_reach_the_provider_once(stack: Stack) -> None:
    user_id = await stack.funded()
    headers = {"Idempotency-Key": f"grant-race-{user_id}"}
    body = grant_body(user_id)

    answers = await asyncio.gather(
        *(stack.api.post("/free-bets", json=body, headers=headers) for _ in range(4))
    )

    assert [answer.status_code for answer in answers] == [201] * 4
    assert len({answer.content for answer in answers}) == 1
    assert sorted(answer.headers.get("Idempotent-Replayed", "") for answer in answers) == [
        "",
        "true",
        "true",
        "true",
    ]
    assert len([g for g in stack.simulator.truth.free_bets if g.user_id == user_id]) == 1


async def test_more_concurrent_keyed_grants_than_pooled_connections_all_complete(
    stack: Stack,
) -> None:
    # Each keyed grant holds a connection for its key's lock: anything else it needed from the
    # pool meanwhile would deadlock once every connection was held by a lock.
    users = [await stack.funded() for _ in range(DEFAULT_MAX_SIZE + 6)]

    async with asyncio.timeout(60):  # a deadlock fails here instead of hanging the suite
        answers = await asyncio.gather(
            *(
                stack.api.post(
                    "/free-bets",
                    json=grant_body(user),
                    headers={"Idempotency-Key": f"many-{user}"},
                )
                for user in users
            )
        )

    assert [answer.status_code for answer in answers] == [201] * len(users)


async def test_a_grant_replayed_after_a_unit_was_spent_is_the_first_answer(
    stack: Stack, db_pool: asyncpg.Pool
) -> None:
    user_id = await stack.funded()
    headers = {"Idempotency-Key": f"grant-spent-{user_id}"}
    body = grant_body(user_id)
    first = await stack.api.post("/free-bets", json=body, headers=headers)
    await db_pool.execute(  # what the ledger does when a free bet consumes a unit
        "UPDATE free_bet_grants SET remaining = remaining - 1 WHERE grant_id = $1",
        first.json()["grant_id"],
    )

    retry = await stack.api.post("/free-bets", json=body, headers=headers)
    listed = await stack.api.get(f"/accounts/{user_id}/BRL/free-bets")

    assert retry.content == first.content
    assert listed.json()["items"][0]["remaining"] == 2


async def test_a_grant_key_reused_for_another_grant_is_409(stack: Stack) -> None:
    user_id = await stack.funded()
    headers = {"Idempotency-Key": f"grant2-{user_id}"}
    await stack.api.post("/free-bets", json=grant_body(user_id), headers=headers)

    response = await stack.api.post(
        "/free-bets", json={**grant_body(user_id), "quantity": 9}, headers=headers
    )

    assert response.status_code == 409
