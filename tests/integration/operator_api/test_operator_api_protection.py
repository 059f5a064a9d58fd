"""Player protection through the operator API and the real ledger: set, show, remove, exclude,
the history, and a launch refused for an excluded player."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.integration.operator_api.conftest import Stack
from tests.integration.operator_api.test_operator_api_cli import cli

pytestmark = pytest.mark.integration

WHO = {"reason": "player asked", "requested_by": "support-7"}


def key() -> dict[str, str]:
    return {"Idempotency-Key": f"k-{uuid.uuid4().hex}"}


async def test_a_deposit_limit_refuses_a_deposit_and_shows_what_is_left(stack: Stack) -> None:
    user_id = await stack.funded()
    limits = f"/accounts/{user_id}/BRL/limits"
    set_ = await stack.api.put(
        limits, json={"limit": "deposit", "period": "day", "amount": "50.00", **WHO}, headers=key()
    )
    await stack.api.post(
        f"/accounts/{user_id}/BRL/deposits", json={"amount": "30.00"}, headers=key()
    )

    refused = await stack.api.post(
        f"/accounts/{user_id}/BRL/deposits", json={"amount": "30.00"}, headers=key()
    )
    view = (await stack.api.get(limits)).json()

    assert set_.status_code == 200, set_.text
    assert (refused.status_code, refused.headers["content-type"]) == (
        403,
        "application/problem+json",
    )
    assert (refused.json()["limit"], refused.json()["allowed"]) == ("deposit", "20.00")
    assert [(i["limit"], i["used"], i["allowed"]) for i in view["limits"]] == [
        ("deposit", "30.00", "20.00")
    ]


async def test_a_removal_waits_for_the_cooling_off_period_and_is_in_the_history(
    stack: Stack,
) -> None:
    user_id = await stack.funded()
    limits = f"/accounts/{user_id}/BRL/limits"
    await stack.api.put(
        limits, json={"limit": "max_bet", "period": "bet", "amount": "5.00", **WHO}, headers=key()
    )

    removed = await stack.api.request(
        "DELETE", limits, json={"limit": "max_bet", "period": "bet", **WHO}, headers=key()
    )
    view = (await stack.api.get(limits)).json()
    history = (await stack.api.get(f"{limits}/history")).json()["items"]

    assert removed.status_code == 200, removed.text
    (limit,) = view["limits"]
    assert (limit["limit_amount"], limit["pending"]["amount"]) == ("5.00", None)
    assert [(h["change"], h["amount"], h["requested_by"]) for h in history] == [
        ("set_limit", "5.00", "support-7"),
        ("remove_limit", None, "support-7"),
    ]


async def test_an_excluded_player_cannot_launch_a_game(stack: Stack) -> None:
    user_id = await stack.funded(amount="10.00")
    excluded = await stack.api.post(f"/accounts/{user_id}/BRL/exclusion", json=WHO, headers=key())
    opened_before = len(stack.simulator.truth.sessions)

    launch = await stack.api.post(
        "/sessions",
        json={"user_id": user_id, "game": "aviador", "username": "p1", "currency": "BRL"},
    )

    assert excluded.status_code == 200, excluded.text
    assert (launch.status_code, launch.json()["type"].rsplit("/", 1)[-1]) == (
        403,
        "player-self-excluded",
    )
    assert len(stack.simulator.truth.sessions) == opened_before  # Hypetech was not asked
    view = (await stack.api.get(f"/accounts/{user_id}/BRL/limits")).json()
    assert (view["exclusion"]["kind"], view["exclusion"]["until"]) == ("self_exclusion", None)


async def test_the_cli_sets_shows_and_excludes(stack: Stack) -> None:
    user_id = await stack.funded()
    who = ("--reason", "player asked", "--by", "support-7")
    set_code, _ = await cli(stack, "limits", "set", user_id, "BRL", "loss", "week", "80.00", *who)
    await cli(stack, "exclude", user_id, "BRL", *who)

    show_code, shown = await cli(stack, "limits", "show", user_id, "BRL", "--json")
    table_code, table = await cli(stack, "limits", "show", user_id, "BRL")

    assert (set_code, show_code, table_code) == (0, 0, 0)
    view = json.loads(shown)
    assert [(i["limit"], i["period"], i["limit_amount"]) for i in view["limits"]] == [
        ("loss", "week", "80.00")
    ]
    assert view["exclusion"]["kind"] == "self_exclusion"
    assert "80.00" in table
    assert "indefinitely" in table
