"""The Hypetech client against the simulator, over real HTTP."""

from __future__ import annotations

import random
import socket
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
from client_support import TOKEN, LiveSimulator, RecordedSleep

from services.simulator.truth import Transaction, TxStatus, TxType
from shared.hypetech import (
    CreateSessionRequest,
    FreeBetRequest,
    HypetechApiError,
    HypetechClient,
    HypetechUnavailable,
)

pytestmark = pytest.mark.integration


def client_for(live: LiveSimulator, sleep: RecordedSleep, **overrides: object) -> HypetechClient:
    options: dict[str, object] = {
        "base_url": live.base_url,
        "token": TOKEN,
        "timeout_s": 2.0,
        "max_retries": 3,
        "sleep": sleep,
        "rng": random.Random(1),
    }
    options.update(overrides)
    return HypetechClient(**options)  # type: ignore[arg-type]


def session_request(user: str = "u-1", balance: Decimal = Decimal("20.00")) -> CreateSessionRequest:
    return CreateSessionRequest(
        game="aviador", user_id=user, username="Jhon Doe", currency="BRL", balance=balance
    )


def add_transactions(live: LiveSimulator, token: str, count: int) -> list[str]:
    ids = []
    for index in range(count):
        tx = Transaction(
            tx_id=str(10_000 + index),
            type=TxType.BET,
            session_token=token,
            user_id="u-1",
            currency="BRL",
            round_id=f"R{index}",
            amount_minor=1234 + index,
            requested_at=datetime.now(UTC),
            status=TxStatus.SUCCESS,
        )
        live.sim.truth.add(tx)
        ids.append(tx.tx_id)
    return ids


async def test_creates_a_session_whose_token_is_the_last_segment_of_the_game_url(
    simulator: LiveSimulator, recorded_sleep: RecordedSleep
) -> None:
    async with client_for(simulator, recorded_sleep) as client:
        created = await client.create_session(session_request())

    assert created.game_url.endswith("/" + created.session_token)
    assert created.session_token in simulator.sim.truth.sessions


async def test_a_game_url_opens_only_once(
    simulator: LiveSimulator, recorded_sleep: RecordedSleep
) -> None:
    async with client_for(simulator, recorded_sleep) as client:
        created = await client.create_session(session_request())

    path = httpx.URL(created.game_url).path
    async with httpx.AsyncClient(base_url=simulator.base_url) as http:
        first = await http.get(path)
        second = await http.get(path)

    assert (first.status_code, second.status_code) == (200, 410)


async def test_lists_the_games(simulator: LiveSimulator, recorded_sleep: RecordedSleep) -> None:
    async with client_for(simulator, recorded_sleep) as client:
        games = await client.list_games()

    assert {game.slug for game in games} == set(simulator.sim.settings.games)


async def test_iterates_every_transaction_of_a_session_across_many_pages(
    simulator: LiveSimulator, recorded_sleep: RecordedSleep
) -> None:
    async with client_for(simulator, recorded_sleep) as client:
        token = (await client.create_session(session_request())).session_token
        expected = add_transactions(simulator, token, 250)
        before = client.attempts

        seen = [row.transaction_id async for row in client.session_transactions(token, page_size=7)]

    assert seen == expected
    assert client.attempts - before == 36  # ceil(250 / 7) pages, each fetched once


async def test_keeps_transaction_amounts_exact(
    simulator: LiveSimulator, recorded_sleep: RecordedSleep
) -> None:
    async with client_for(simulator, recorded_sleep) as client:
        token = (await client.create_session(session_request())).session_token
        add_transactions(simulator, token, 1)

        rows = [row async for row in client.session_transactions(token)]

    assert rows[0].amount == Decimal("12.34")
    assert isinstance(rows[0].amount, Decimal)


async def test_lists_active_sessions_across_pages(
    simulator: LiveSimulator, recorded_sleep: RecordedSleep
) -> None:
    async with client_for(simulator, recorded_sleep) as client:
        tokens = {
            (await client.create_session(session_request(f"u-{i}"))).session_token for i in range(5)
        }

        listed = {row.session_id async for row in client.active_sessions(page_size=2)}

    assert listed == tokens


async def test_redeems_a_free_bet(simulator: LiveSimulator, recorded_sleep: RecordedSleep) -> None:
    request = FreeBetRequest(
        game_slug="aviator",
        user_id="u-1",
        quantity=5,
        value=Decimal("10.0"),
        currency="USD",
        expires_at=datetime.now(UTC) + timedelta(days=1),
        bonus_code="FREEBET2024",
        max_multiplier=Decimal("5.0"),
    )

    async with client_for(simulator, recorded_sleep) as client:
        answer = await client.redeem_free_bet(request)

    grant = simulator.sim.truth.free_bets[0]
    assert answer.free_bet
    assert (grant.quantity, grant.value_minor, grant.bonus_code) == (5, 1000, "FREEBET2024")


async def test_retries_5xx_answers_until_one_succeeds(
    simulator: LiveSimulator, recorded_sleep: RecordedSleep
) -> None:
    simulator.sim.http_faults.fail_next = 2

    async with client_for(simulator, recorded_sleep) as client:
        games = await client.list_games()

    assert games
    assert client.attempts == 3
    assert len(recorded_sleep.delays) == 2


async def test_gives_up_after_the_configured_retries_on_5xx(
    simulator: LiveSimulator, recorded_sleep: RecordedSleep
) -> None:
    simulator.sim.http_faults.fail_next = 100

    async with client_for(simulator, recorded_sleep, max_retries=3) as client:
        with pytest.raises(HypetechUnavailable) as raised:
            await client.list_games()

    assert (raised.value.attempts, raised.value.last_status) == (4, 503)
    assert simulator.sim.http_faults.failed == 4


async def test_backoff_grows_and_stays_under_its_cap(
    simulator: LiveSimulator, recorded_sleep: RecordedSleep
) -> None:
    simulator.sim.http_faults.fail_next = 100

    async with client_for(simulator, recorded_sleep, max_retries=5) as client:
        with pytest.raises(HypetechUnavailable):
            await client.list_games()

    ceilings = [min(5.0, 0.1 * 2**n) for n in range(5)]
    assert all(
        0 <= delay <= cap for delay, cap in zip(recorded_sleep.delays, ceilings, strict=True)
    )


async def test_retries_a_request_that_timed_out(
    simulator: LiveSimulator, recorded_sleep: RecordedSleep
) -> None:
    simulator.sim.http_faults.delay_next = 1
    simulator.sim.http_faults.delay_s = 1.0

    async with client_for(simulator, recorded_sleep, timeout_s=0.2) as client:
        games = await client.list_games()

    assert games
    assert client.attempts == 2
    assert simulator.sim.http_faults.delayed == 1


async def test_retries_connection_errors_a_bounded_number_of_times(
    recorded_sleep: RecordedSleep,
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    async with HypetechClient(
        base_url=f"http://127.0.0.1:{port}", token=TOKEN, max_retries=2, sleep=recorded_sleep
    ) as client:
        with pytest.raises(HypetechUnavailable) as raised:
            await client.list_games()

    assert raised.value.attempts == 3
    assert raised.value.last_status is None


async def test_never_retries_a_4xx(simulator: LiveSimulator, recorded_sleep: RecordedSleep) -> None:
    async with client_for(simulator, recorded_sleep, token="wrong-token") as client:
        with pytest.raises(HypetechApiError) as raised:
            await client.list_games()

    assert raised.value.status == 401
    assert client.attempts == 1
    assert recorded_sleep.delays == []


async def test_reads_errors_that_carry_status_code(
    simulator: LiveSimulator, recorded_sleep: RecordedSleep
) -> None:
    simulator.sim.http_faults.error_shape = "statusCode"

    async with client_for(simulator, recorded_sleep) as client:
        with pytest.raises(HypetechApiError) as raised:
            await client.transactions_page("no-such-session")

    assert (raised.value.status, raised.value.title) == (404, "Not found")
    assert "statusCode" in raised.value.body


async def test_reads_rfc7807_errors_that_carry_status(
    simulator: LiveSimulator, recorded_sleep: RecordedSleep
) -> None:
    simulator.sim.http_faults.error_shape = "status"

    async with client_for(simulator, recorded_sleep) as client:
        with pytest.raises(HypetechApiError) as raised:
            await client.create_session(
                CreateSessionRequest(game="no-such-game", user_id="u", username="u", currency="USD")
            )

    assert (raised.value.status, raised.value.title) == (404, "Game not found")
    assert raised.value.type.endswith("/404")
