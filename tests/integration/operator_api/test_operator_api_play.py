"""A player funded through the API, launched into the simulator and played for a few rounds:
the webhooks go through the real ingress and ledger, and the history adds up to the balance."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest

from services.ingress.app import create_app as create_ingress
from services.ingress.settings import IngressSettings
from services.simulator.serve import running
from shared.db.databases import migrated_database
from shared.infra.processes import free_port
from shared.infra.stack import Stack as InfraStack
from tests.conftest import unique_database_name
from tests.integration.operator_api.conftest import (
    SIMULATOR_TOKEN,
    WEBHOOK_KEY,
    Stack,
    stack_for,
)

pytestmark = pytest.mark.integration

ROUNDS = 6


@pytest.fixture(scope="module")
async def played(infra: InfraStack, common_env: dict[str, Any]) -> AsyncIterator[tuple[Stack, str]]:
    """The whole stack with an ingress, and one player who deposited 100.00 and played, in a
    database of this module's own: the daily report then sums this play and nothing else."""
    ingress_port = free_port()
    ingress_url = f"http://127.0.0.1:{ingress_port}"
    async with (
        migrated_database(infra.database_admin_url, unique_database_name("play")) as own,
        stack_for({**common_env, "database_url": own}, ingress_url=ingress_url) as stack,
    ):
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


# -- records: balances as of any time, daily reports ------------------------------------------


async def test_the_balance_as_of_any_time_is_the_sum_of_the_postings_up_to_it(
    played: tuple[Stack, str],
) -> None:
    stack, user_id = played
    rows = await every_row(stack, f"/accounts/{user_id}/BRL/transactions")
    times = sorted({datetime.fromisoformat(row["created_at"]) for row in rows})
    path = f"/accounts/{user_id}/BRL/balance"

    async def balance_at(at: datetime) -> Decimal:
        response = await stack.api.get(path, params={"at": at.isoformat()})
        assert response.status_code == 200, response.text
        return Decimal(response.json()["balance"])

    assert len(times) > 2
    assert await balance_at(times[0] - timedelta(microseconds=1)) == 0
    for at, after in zip(times, [*times[1:], None], strict=True):
        expected = sum(
            Decimal(r["amount"]) for r in rows if datetime.fromisoformat(r["created_at"]) <= at
        )
        assert await balance_at(at) == expected
        if after is not None:
            assert await balance_at(at + (after - at) / 2) == expected, "between postings"


async def test_the_balance_at_now_is_the_current_balance(played: tuple[Stack, str]) -> None:
    stack, user_id = played
    path = f"/accounts/{user_id}/BRL/balance"

    now = (await stack.api.get(path, params={"at": datetime.now(UTC).isoformat()})).json()
    current = (await stack.api.get(path)).json()

    assert now["balance"] == current["balance"]


@pytest.mark.parametrize("at", ["yesterday", "2026-05-04T10:00:00"])
async def test_a_balance_at_a_time_it_cannot_read_is_a_problem(
    played: tuple[Stack, str], at: str
) -> None:
    stack, user_id = played

    response = await stack.api.get(f"/accounts/{user_id}/BRL/balance", params={"at": at})

    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["field"] == "at"


async def test_the_daily_report_adds_up_to_the_days_postings(played: tuple[Stack, str]) -> None:
    stack, _ = played
    zone = ZoneInfo(stack.settings.ledger_time_zone)
    conn = await asyncpg.connect(stack.settings.database_url)
    try:
        # The day of the play, not of the test: the two can fall either side of midnight.
        last_bet = await conn.fetchval("SELECT max(created_at) FROM bets")
        day = last_bet.astimezone(zone).date()
        start = datetime.combine(day, time(0), tzinfo=zone)
        response = await stack.api.get("/reports/daily", params={"date": day.isoformat()})
        sums = await conn.fetchrow(
            "SELECT"
            " coalesce(sum(-p.amount) FILTER (WHERE t.kind = 'bet'), 0) AS stakes,"
            " coalesce(sum(p.amount) FILTER (WHERE t.kind = 'win'), 0) AS wins,"
            " coalesce(sum(p.amount) FILTER (WHERE t.kind = 'rollback'), 0) AS refunds,"
            " coalesce(sum(-p.amount) FILTER (WHERE t.kind IN ('bet', 'win', 'rollback')), 0)"
            "  AS net"
            " FROM transactions t JOIN postings p ON p.operator_tx_id = t.operator_tx_id"
            " WHERE p.account_type = 'player' AND t.created_at >= $1"
            " AND t.created_at < $1 + interval '1 day'",
            start,
        )
        bets = await conn.fetchrow(
            "SELECT count(*) AS bets, count(DISTINCT user_id) AS players FROM bets"
            " WHERE created_at >= $1 AND created_at < $1 + interval '1 day'",
            start,
        )
    finally:
        await conn.close()

    assert response.status_code == 200, response.text
    # The module's database holds its one player's play, in BRL (two decimals).
    items = response.json()["items"]
    assert {item["currency"] for item in items} == {"BRL"}
    assert "aviador" in {item["game"] for item in items}

    def total(name: str) -> Decimal:
        return sum((Decimal(item[name]) for item in items), Decimal(0))

    assert sums["stakes"] > 0
    assert total("stakes") * 100 == sums["stakes"]
    assert (total("wins") + total("free_bet_wins")) * 100 == sums["wins"]
    assert total("refunds") * 100 == sums["refunds"]
    assert (total("ggr") - total("free_bet_wins")) * 100 == sums["net"]
    assert sum(item["bets"] for item in items) == bets["bets"]
    assert sum(item["players"] for item in items) >= bets["players"]  # one count per game


async def test_a_report_for_a_day_that_is_not_a_date_is_a_problem(
    played: tuple[Stack, str],
) -> None:
    stack, _ = played

    response = await stack.api.get("/reports/daily", params={"date": "2026-13-01"})

    assert response.status_code == 400
    assert response.json()["field"] == "date"
