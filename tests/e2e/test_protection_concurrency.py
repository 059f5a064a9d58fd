"""A limit holds exactly under concurrency: 500 bets of 1.00 at once from one player with a daily
loss limit of 100.00 and plenty of balance, signed and sent over HTTP through the ingress, the
broker and the ledger. Exactly 100 are accepted and every other one is refused limit-exceeded:
the check and the debit are one decision of the player's one writer, also while a second ledger
process joins the group and the partitions move.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from shared.contracts.commands import OperatorKind
from shared.contracts.protection import LimitKind, LimitPeriod
from shared.infra.processes import free_port
from tests.chaos.ledger_processes import start_ledger
from tests.e2e.test_ingress_ledger import (  # served: the ingress, on this module's ledger
    BET,
    Hypetech,
    bet,
    served,
    slug,
)
from tests.integration.ingress.served import ServedIngress
from tests.integration.ledger.ledger_harness import Ledger, ledger_harness, operator

pytestmark = pytest.mark.e2e
__all__ = ["served"]

BETS = 500
LIMIT = "100.00"
#: Requests in flight at once (httpx's pool): all 500 are queued at once and sent 100 at a time.
CONNECTIONS = 100


@pytest.fixture(scope="module")
async def ledger(common_env: dict[str, Any], db_pool: asyncpg.Pool) -> AsyncIterator[Ledger]:
    """The ledger runs in this process, beside the 500 requests' client: a session timeout of a
    few seconds keeps it in its group while the client keeps the event loop busy (the tests'
    usual 1 s let it drop out and rejoin under this load)."""
    async with ledger_harness(
        common_env, db_pool, kafka_session_timeout_ms=6000, kafka_heartbeat_interval_ms=1000
    ) as harness:
        yield harness


@pytest.fixture
async def hypetech(served: ServedIngress) -> AsyncIterator[Hypetech]:
    limits = httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS)
    async with httpx.AsyncClient(base_url=served.base_url, timeout=60, limits=limits) as http:
        yield Hypetech(served.settings, http)


async def limited_player(ledger: Ledger) -> str:
    user = await ledger.player("1000.00")
    reply = await ledger.send(
        operator(
            OperatorKind.SET_LIMIT,
            user,
            f"limit-{user}",
            LIMIT,
            limit=LimitKind.LOSS,
            period=LimitPeriod.DAY,
            requested_by="e2e",
            reason="concurrency test",
        )
    )
    assert reply.status == 200, reply.body
    return user


async def place(hypetech: Hypetech, user: str, index: int) -> tuple[int, str]:
    """One bet, retried as Hypetech does while the ingress answers 503 (the ledger did not answer
    in time, for example during a rebalance) or the connection breaks: a retry gets the stored
    decision."""
    fields = bet(user, f"{user}-{index}", "1.00", round_id=f"r{index}")
    for _ in range(30):
        try:
            response = await hypetech.post(BET, fields)
        except httpx.TransportError:  # a kept-alive connection the server had just closed
            continue
        if response.status_code != 503:
            return response.status_code, "" if response.status_code == 200 else slug(response)
        await asyncio.sleep(0.5)
    raise AssertionError(f"bet {index} was never answered")


async def assert_exactly_the_limit_was_staked(
    ledger: Ledger, user: str, answers: list[tuple[int, str]]
) -> None:
    assert Counter(answers) == {(200, ""): 100, (403, "limit-exceeded"): BETS - 100}
    assert await ledger.balance(user) == 900_00
    losses = await ledger.count(
        "SELECT losses FROM limit_totals WHERE user_id = $1 AND period = 'day'", user
    )
    assert losses == 100_00
    assert await ledger.count("SELECT count(*) FROM bets WHERE user_id = $1", user) == 100


async def test_exactly_the_loss_limit_is_staked_by_500_concurrent_bets(
    ledger: Ledger, hypetech: Hypetech
) -> None:
    user = await limited_player(ledger)

    answers = await asyncio.gather(*(place(hypetech, user, i) for i in range(BETS)))

    await assert_exactly_the_limit_was_staked(ledger, user, list(answers))


async def test_exactly_the_loss_limit_is_staked_while_a_second_ledger_process_joins(
    ledger: Ledger, hypetech: Hypetech, tmp_path: Path
) -> None:
    user = await limited_player(ledger)
    second_settings = ledger.settings.model_copy(update={"relay_metrics_port": free_port()})

    sending = asyncio.ensure_future(
        asyncio.gather(*(place(hypetech, user, i) for i in range(BETS)))
    )
    await asyncio.sleep(0.2)  # some bets are decided by the first member alone
    second = start_ledger(second_settings, tmp_path)  # a `hypeledger ledger` process
    try:
        await second.ready()  # it joined the group and was given partitions: a rebalance
        answers = await sending
    finally:
        second.terminate()

    await assert_exactly_the_limit_was_staked(ledger, user, list(answers))
