"""A player's history from Postgres: keyset pages, filters, and postings that add up."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from tests.integration.operator_api.conftest import Stack

pytestmark = pytest.mark.integration

DEPOSITS = 23


async def all_pages(stack: Stack, path: str, **params: Any) -> list[list[dict[str, Any]]]:
    pages: list[list[dict[str, Any]]] = []
    cursor: str | None = None
    for _ in range(100):
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = await stack.api.get(path, params=query)
        assert response.status_code == 200, response.text
        pages.append(response.json()["items"])
        cursor = response.json()["next_cursor"]
        if cursor is None:
            return pages
    raise AssertionError("the pages never ended")


@pytest.fixture(scope="module")
async def busy_player(stack: Stack) -> str:
    """A player with 23 deposits of 1.00 .. 23.00 and two withdrawals of 5.00."""
    user_id = await stack.funded()
    for n in range(1, DEPOSITS + 1):
        response = await stack.api.post(
            f"/accounts/{user_id}/BRL/deposits",
            json={"amount": f"{n}.00"},
            headers={"Idempotency-Key": f"{user_id}-d{n}"},
        )
        assert response.status_code == 200
    for n in range(2):
        await stack.api.post(
            f"/accounts/{user_id}/BRL/withdrawals",
            json={"amount": "5.00"},
            headers={"Idempotency-Key": f"{user_id}-w{n}"},
        )
    return user_id


async def test_transactions_come_in_pages_that_cover_every_row_once(
    stack: Stack, busy_player: str
) -> None:
    pages = await all_pages(stack, f"/accounts/{busy_player}/BRL/transactions", limit=4)

    rows = [row for page in pages for row in page]
    assert [len(page) for page in pages] == [4, 4, 4, 4, 4, 4, 1]
    assert len({row["operator_tx_id"] for row in rows}) == DEPOSITS + 2


async def test_transactions_come_newest_first(stack: Stack, busy_player: str) -> None:
    pages = await all_pages(stack, f"/accounts/{busy_player}/BRL/transactions", limit=7)

    stamps = [row["created_at"] for page in pages for row in page]
    assert stamps == sorted(stamps, reverse=True)


async def test_a_cursor_gives_the_same_page_when_asked_again(
    stack: Stack, busy_player: str
) -> None:
    path = f"/accounts/{busy_player}/BRL/transactions"
    cursor = (await stack.api.get(path, params={"limit": 3})).json()["next_cursor"]

    first = await stack.api.get(path, params={"limit": 3, "cursor": cursor})
    again = await stack.api.get(path, params={"limit": 3, "cursor": cursor})

    assert first.content == again.content


async def test_the_kind_filter_keeps_only_that_kind(stack: Stack, busy_player: str) -> None:
    pages = await all_pages(
        stack, f"/accounts/{busy_player}/BRL/transactions", kind="withdraw", limit=50
    )

    assert [(row["kind"], row["amount"]) for row in pages[0]] == [("withdraw", "-5.00")] * 2


async def test_a_time_window_after_every_row_is_empty(stack: Stack, busy_player: str) -> None:
    since = (datetime.now(UTC) + timedelta(hours=1)).isoformat()

    response = await stack.api.get(
        f"/accounts/{busy_player}/BRL/transactions", params={"since": since}
    )

    assert response.json() == {"items": [], "next_cursor": None}


async def test_the_postings_of_the_wallet_add_up_to_the_balance(
    stack: Stack, busy_player: str
) -> None:
    pages = await all_pages(stack, f"/accounts/{busy_player}/BRL/postings", limit=6)

    total = sum(Decimal(row["amount"]) for page in pages for row in page)
    balance = (await stack.api.get(f"/accounts/{busy_player}/BRL/balance")).json()["balance"]
    assert total == Decimal(balance) == Decimal(sum(range(1, DEPOSITS + 1)) - 10)


async def test_a_cursor_used_with_other_filters_is_refused(stack: Stack, busy_player: str) -> None:
    path = f"/accounts/{busy_player}/BRL/transactions"
    cursor = (await stack.api.get(path, params={"limit": 2})).json()["next_cursor"]

    response = await stack.api.get(path, params={"limit": 2, "kind": "deposit", "cursor": cursor})

    assert response.status_code == 400
    assert response.json()["field"] == "cursor"


async def test_a_history_of_an_unknown_account_is_account_not_found(stack: Stack) -> None:
    response = await stack.api.get(f"/accounts/{stack.user()}/BRL/transactions")

    assert response.status_code == 404


async def test_rows_written_while_paging_do_not_shift_later_pages(stack: Stack) -> None:
    user_id = await stack.funded(amount="1.00")
    for n in range(4):
        await stack.api.post(
            f"/accounts/{user_id}/BRL/deposits",
            json={"amount": "1.00"},
            headers={"Idempotency-Key": f"{user_id}-x{n}"},
        )
    path = f"/accounts/{user_id}/BRL/transactions"
    first = (await stack.api.get(path, params={"limit": 2})).json()
    await asyncio.sleep(0.01)
    await stack.api.post(
        f"/accounts/{user_id}/BRL/deposits",
        json={"amount": "7.00"},
        headers={"Idempotency-Key": f"{user_id}-late"},
    )

    rest = await all_pages(stack, path, limit=2, cursor=first["next_cursor"])

    seen = [row["operator_tx_id"] for row in first["items"]] + [
        row["operator_tx_id"] for page in rest for row in page
    ]
    assert len(seen) == len(set(seen)) == 5


async def test_a_time_window_keeps_the_rows_inside_it(stack: Stack, busy_player: str) -> None:
    path = f"/accounts/{busy_player}/BRL/transactions"
    rows = [row for page in await all_pages(stack, path, limit=50) for row in page]
    newest_first = [datetime.fromisoformat(row["created_at"]) for row in rows]
    since, until = newest_first[15], newest_first[5]

    window = await all_pages(stack, path, since=since.isoformat(), until=until.isoformat(), limit=4)

    inside = [datetime.fromisoformat(row["created_at"]) for page in window for row in page]
    assert inside == [stamp for stamp in newest_first if since <= stamp < until]
