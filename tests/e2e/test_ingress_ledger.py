"""Signed webhooks over real HTTP, through the real broker, decided by the real ledger.

Every row of the decision table in ``docs/wallet-semantics.md`` is answered here over HTTP, on the
current and the legacy paths, and duplicates are answered byte for byte as the first time.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest

from services.ingress.settings import IngressSettings
from services.ledger.settings import LedgerSettings
from shared.contracts.commands import OperatorKind
from shared.contracts.topics import COMMANDS
from shared.jsonwire import dumps_compact
from shared.kafka_rpc import KafkaRpcClient
from tests.integration.ingress.served import ServedIngress, ingress_settings, signed_headers
from tests.integration.ledger.ledger_harness import (
    Ledger,
    create_ledger_topics,
    ledger_harness,
    ledger_settings,
    operator,
    running_ledger,
)

pytestmark = pytest.mark.e2e

BET, WIN, ROLLBACK, BALANCE = (
    "/webhooks/hypetech/bet",
    "/webhooks/hypetech/win",
    "/webhooks/hypetech/rollback",
    "/webhooks/hypetech/balance",
)
REGISTER, REWARDS, LOSES = (
    "/webhooks/hypetech/register",
    "/webhooks/hypetech/rewards",
    "/webhooks/hypetech/loses",
)


def tx() -> str:
    return uuid.uuid4().hex[:16]


def kafka_env_of(settings: LedgerSettings) -> dict[str, Any]:
    names = ("environment", "kafka_bootstrap_servers", "kafka_flavour", "kafka_fetch_max_wait_ms",
             "topic_prefix")  # fmt: skip
    return {name: getattr(settings, name) for name in names}


class Hypetech:
    """Sends signed webhooks to the ingress the way Hypetech does."""

    def __init__(self, settings: IngressSettings, http: httpx.AsyncClient) -> None:
        self.settings = settings
        self.http = http

    async def post(self, path: str, fields: dict[str, Any]) -> httpx.Response:
        body = dumps_compact(fields).encode()
        return await self.http.post(
            path, content=body, headers=signed_headers(self.settings, path, body)
        )

    async def get(self, path: str, fields: dict[str, Any]) -> httpx.Response:
        query = str(httpx.QueryParams({k: str(v) for k, v in fields.items()}))
        return await self.http.get(
            f"{path}?{query}", headers=signed_headers(self.settings, path, b"", query)
        )


def bet(user: str, provider_tx_id: str, amount: Any = 10, **extra: Any) -> dict[str, Any]:
    return {
        "user_id": user, "currency": "USD", "amount": amount, "provider": "hypetech",
        "provider_tx_id": provider_tx_id, "game": "aviador", "action": "bet", "round_id": "r1",
        "mode": "default", "count_register": "1", "session_token": f"tok-{user}", **extra,
    }  # fmt: skip


def slug(response: httpx.Response) -> str:
    return str(response.json().get("type", "")).rsplit("/", 1)[-1]


@pytest.fixture(scope="module")
async def ledger(common_env: dict[str, Any], db_pool: asyncpg.Pool) -> AsyncIterator[Ledger]:
    async with ledger_harness(common_env, db_pool) as harness:
        yield harness


@pytest.fixture(scope="module")
def served(ledger: Ledger) -> Iterator[ServedIngress]:
    with ServedIngress(ingress_settings(kafka_env_of(ledger.settings)), ledger=False) as served:
        yield served


@pytest.fixture
async def hypetech(served: ServedIngress) -> AsyncIterator[Hypetech]:
    async with httpx.AsyncClient(base_url=served.base_url, timeout=20) as http:
        yield Hypetech(served.settings, http)


# --- bet --------------------------------------------------------------------------------


async def test_debits_a_bet_and_answers_the_seven_field_shape(
    ledger: Ledger, hypetech: Hypetech
) -> None:
    user, bet_id = await ledger.player("100.00"), tx()

    response = await hypetech.post(BET, bet(user, bet_id, 10))

    body = response.json()
    assert (response.status_code, body["old_balance"], body["new_balance"]) == (
        200,
        "100.00",
        "90.00",
    )
    assert set(body) >= {"operator_tx_id", "user_id", "currency", "provider", "provider_tx_id"}
    assert await ledger.balance(user) == 90_00


async def test_answers_a_duplicate_bet_byte_for_byte_and_debits_once(
    ledger: Ledger, hypetech: Hypetech
) -> None:
    user, bet_id = await ledger.player("100.00"), tx()
    first = await hypetech.post(BET, bet(user, bet_id, 10))
    await hypetech.post(BET, bet(user, tx(), 5))

    again = await hypetech.post(BET, bet(user, bet_id, 10))

    assert (again.status_code, again.content) == (first.status_code, first.content)
    assert await ledger.balance(user) == 85_00


async def test_answers_a_duplicate_sent_on_the_legacy_path_as_the_first_time(
    ledger: Ledger, hypetech: Hypetech
) -> None:
    user, bet_id = await ledger.player("100.00"), tx()
    first = await hypetech.post(BET, bet(user, bet_id, 10))

    again = await hypetech.post(REGISTER, bet(user, bet_id, 10))

    assert again.content == first.content


async def test_refuses_a_same_id_bet_with_another_amount(
    ledger: Ledger, hypetech: Hypetech
) -> None:
    user, bet_id = await ledger.player("100.00"), tx()
    await hypetech.post(BET, bet(user, bet_id, 10))

    response = await hypetech.post(BET, bet(user, bet_id, 11))

    assert (response.status_code, slug(response)) == (409, "duplicate-transaction-mismatch")
    assert await ledger.balance(user) == 90_00


async def test_refuses_a_bet_on_a_missing_account(hypetech: Hypetech) -> None:
    response = await hypetech.post(BET, bet(f"nobody-{tx()}", tx()))

    assert (response.status_code, slug(response)) == (404, "account-not-found")


async def test_refuses_a_bet_of_a_blocked_player(ledger: Ledger, hypetech: Hypetech) -> None:
    user = await ledger.player("100.00")
    await ledger.send(operator(OperatorKind.BLOCK, user, tx()))

    response = await hypetech.post(BET, bet(user, tx()))

    assert (response.status_code, slug(response)) == (403, "player-blocked")
    assert await ledger.balance(user) == 100_00


async def test_refuses_a_bet_with_an_unknown_session(ledger: Ledger, hypetech: Hypetech) -> None:
    user = await ledger.player("100.00")

    response = await hypetech.post(BET, bet(user, tx(), session_token="not-a-session"))

    assert (response.status_code, slug(response)) == (401, "invalid-session")


@pytest.mark.parametrize("amount", [0, -5, "abc", 1.001])
async def test_refuses_a_bet_with_an_invalid_amount(
    ledger: Ledger, hypetech: Hypetech, amount: Any
) -> None:
    user = await ledger.player("100.00")

    response = await hypetech.post(BET, bet(user, tx(), amount))

    assert (response.status_code, slug(response)) == (400, "invalid-amount")
    assert await ledger.balance(user) == 100_00


async def test_rounds_float_noise_in_a_bet_and_flags_its_stored_decision(
    ledger: Ledger, hypetech: Hypetech
) -> None:
    user, bet_id = await ledger.player("100.00"), tx()

    response = await hypetech.post(BET, bet(user, bet_id, Decimal("10.299999999999999")))

    assert (response.status_code, response.json()["new_balance"]) == (200, "89.70")
    stored = await ledger.decision("bet", bet_id)
    assert stored is not None
    assert stored["flags"] == ["amount_noise_rounded"]


async def test_refuses_a_bet_whose_rollback_came_first(ledger: Ledger, hypetech: Hypetech) -> None:
    user, bet_id = await ledger.player("100.00"), tx()
    early = await hypetech.post(ROLLBACK, {**bet(user, tx(), 10), "linked_tx_id": bet_id})

    response = await hypetech.post(BET, bet(user, bet_id, 10))

    assert early.status_code == 200
    assert (response.status_code, slug(response)) == (410, "transaction-rolled-back")
    assert await ledger.balance(user) == 100_00


async def test_records_a_free_bet_without_debiting(ledger: Ledger, hypetech: Hypetech) -> None:
    user = await ledger.player("100.00")

    response = await hypetech.post(BET, bet(user, tx(), 10, mode="free", bonus_code="FB1"))

    body = response.json()
    assert (response.status_code, body["old_balance"], body["new_balance"]) == (
        200,
        "100.00",
        "100.00",
    )


async def test_refuses_a_free_bet_when_the_grant_is_used_up(
    ledger: Ledger, hypetech: Hypetech
) -> None:
    user = await ledger.player("100.00")
    await ledger.pool.execute(
        "INSERT INTO free_bet_grants (user_id, currency, bonus_code, quantity, remaining)"
        " VALUES ($1, 'USD', 'FB2', 1, 0)",
        user,
    )

    response = await hypetech.post(BET, bet(user, tx(), 10, mode="free", bonus_code="FB2"))

    assert (response.status_code, slug(response)) == (403, "no-free-bets-left")


async def test_refuses_a_bet_above_the_balance_telling_the_balance(
    ledger: Ledger, hypetech: Hypetech
) -> None:
    user = await ledger.player("5.00")

    response = await hypetech.post(BET, bet(user, tx(), 10))

    assert (response.status_code, slug(response)) == (403, "insufficient-funds")
    assert response.json()["balance"] == "5.00"


# --- win --------------------------------------------------------------------------------


async def test_credits_a_win_linked_to_its_bet(ledger: Ledger, hypetech: Hypetech) -> None:
    user, bet_id = await ledger.player("100.00"), tx()
    await hypetech.post(BET, bet(user, bet_id, 10))

    response = await hypetech.post(
        WIN, {**bet(user, tx(), 25, action="win"), "linked_tx_id": bet_id}
    )

    assert (response.status_code, response.json()["new_balance"]) == (200, "115.00")
    assert await ledger.bet_state(bet_id) == "won"


async def test_credits_a_legacy_win_by_its_round(ledger: Ledger, hypetech: Hypetech) -> None:
    user, bet_id = await ledger.player("100.00"), tx()
    await hypetech.post(REGISTER, bet(user, bet_id, 10))
    win = bet(user, tx(), 30, action="win")
    del win["mode"], win["count_register"]

    response = await hypetech.post(REWARDS, win)

    assert (response.status_code, response.json()["new_balance"]) == (200, "120.00")


async def test_pays_a_win_without_checking_the_session(ledger: Ledger, hypetech: Hypetech) -> None:
    user, bet_id = await ledger.player("100.00"), tx()
    await hypetech.post(BET, bet(user, bet_id, 10))
    win = {**bet(user, tx(), 5, session_token="expired"), "linked_tx_id": bet_id}

    response = await hypetech.post(WIN, win)

    assert response.status_code == 200


async def test_refuses_a_win_on_a_missing_account(hypetech: Hypetech) -> None:
    response = await hypetech.post(WIN, {**bet(f"nobody-{tx()}", tx()), "linked_tx_id": tx()})

    assert (response.status_code, slug(response)) == (404, "account-not-found")


async def test_refuses_a_negative_win(ledger: Ledger, hypetech: Hypetech) -> None:
    user = await ledger.player("100.00")

    response = await hypetech.post(WIN, bet(user, tx(), -1))

    assert (response.status_code, slug(response)) == (400, "invalid-amount")


async def test_refuses_a_win_linked_to_an_unknown_bet(ledger: Ledger, hypetech: Hypetech) -> None:
    user = await ledger.player("100.00")

    response = await hypetech.post(WIN, {**bet(user, tx(), 5), "linked_tx_id": tx()})

    assert (response.status_code, slug(response)) == (404, "bet-not-found")


async def test_refuses_a_win_in_a_round_without_bets(ledger: Ledger, hypetech: Hypetech) -> None:
    user = await ledger.player("100.00")

    response = await hypetech.post(REWARDS, bet(user, tx(), 5, round_id=f"empty-{tx()}"))

    assert (response.status_code, slug(response)) == (404, "round-not-found")


async def test_refuses_a_win_of_a_rolled_back_bet(ledger: Ledger, hypetech: Hypetech) -> None:
    user, bet_id = await ledger.player("100.00"), tx()
    await hypetech.post(BET, bet(user, bet_id, 10))
    await hypetech.post(ROLLBACK, {**bet(user, tx(), 10), "linked_tx_id": bet_id})

    response = await hypetech.post(WIN, {**bet(user, tx(), 50), "linked_tx_id": bet_id})

    assert (response.status_code, slug(response)) == (409, "bet-rolled-back")
    assert await ledger.balance(user) == 100_00


async def test_refuses_a_second_win_of_a_bet_already_won(
    ledger: Ledger, hypetech: Hypetech
) -> None:
    user, bet_id = await ledger.player("100.00"), tx()
    await hypetech.post(BET, bet(user, bet_id, 10))
    await hypetech.post(WIN, {**bet(user, tx(), 20), "linked_tx_id": bet_id})

    response = await hypetech.post(WIN, {**bet(user, tx(), 20), "linked_tx_id": bet_id})

    assert (response.status_code, slug(response)) == (409, "bet-already-settled")
    assert await ledger.balance(user) == 110_00


# --- lose -------------------------------------------------------------------------------


async def test_settles_a_lose_without_moving_money(ledger: Ledger, hypetech: Hypetech) -> None:
    user, bet_id = await ledger.player("100.00"), tx()
    await hypetech.post(REGISTER, bet(user, bet_id, 10))

    response = await hypetech.post(LOSES, bet(user, tx(), 10, action="lose"))

    body = response.json()
    assert (response.status_code, body["old_balance"], body["new_balance"]) == (
        200,
        "90.00",
        "90.00",
    )
    assert await ledger.bet_state(bet_id) == "lost"


# --- rollback ---------------------------------------------------------------------------


async def test_refunds_the_original_stake_of_a_rolled_back_bet(
    ledger: Ledger, hypetech: Hypetech
) -> None:
    user, bet_id = await ledger.player("100.00"), tx()
    await hypetech.post(BET, bet(user, bet_id, 10))

    response = await hypetech.post(ROLLBACK, {**bet(user, tx(), 7), "linked_tx_id": bet_id})

    assert (response.status_code, response.json()["new_balance"]) == (200, "100.00")
    assert await ledger.bet_state(bet_id) == "rolled_back"


async def test_rolls_back_a_v1_bet_named_by_rollback_provider_tx_id(
    ledger: Ledger, hypetech: Hypetech
) -> None:
    user, bet_id = await ledger.player("100.00"), tx()
    await hypetech.post(REGISTER, bet(user, bet_id, 10))
    rollback = {**bet(user, tx(), 10), "rollback_provider_tx_id": bet_id, "action_id": "r1"}
    del rollback["round_id"], rollback["mode"], rollback["count_register"]

    response = await hypetech.post(ROLLBACK, rollback)

    assert (response.status_code, response.json()["new_balance"]) == (200, "100.00")


async def test_moves_nothing_on_a_second_rollback_of_the_same_bet(
    ledger: Ledger, hypetech: Hypetech
) -> None:
    user, bet_id = await ledger.player("100.00"), tx()
    await hypetech.post(BET, bet(user, bet_id, 10))
    await hypetech.post(ROLLBACK, {**bet(user, tx(), 10), "linked_tx_id": bet_id})

    response = await hypetech.post(ROLLBACK, {**bet(user, tx(), 10), "linked_tx_id": bet_id})

    assert response.status_code == 200
    assert await ledger.balance(user) == 100_00


async def test_refuses_to_roll_back_a_won_bet(ledger: Ledger, hypetech: Hypetech) -> None:
    user, bet_id = await ledger.player("100.00"), tx()
    await hypetech.post(BET, bet(user, bet_id, 10))
    await hypetech.post(WIN, {**bet(user, tx(), 20), "linked_tx_id": bet_id})

    response = await hypetech.post(ROLLBACK, {**bet(user, tx(), 10), "linked_tx_id": bet_id})

    assert (response.status_code, slug(response)) == (409, "bet-already-settled")
    assert await ledger.balance(user) == 110_00


async def test_rolls_back_a_v2_bet_named_by_its_own_provider_tx_id(
    ledger: Ledger, hypetech: Hypetech
) -> None:
    user, bet_id = await ledger.player("100.00"), tx()
    await hypetech.post(REGISTER, bet(user, bet_id, 10))

    response = await hypetech.post(ROLLBACK, bet(user, bet_id, 10, action="rollback"))

    assert (response.status_code, response.json()["new_balance"]) == (200, "100.00")
    assert await ledger.bet_state(bet_id) == "rolled_back"


async def test_refunds_a_lost_bet_on_rollback(ledger: Ledger, hypetech: Hypetech) -> None:
    user, bet_id = await ledger.player("100.00"), tx()
    await hypetech.post(REGISTER, bet(user, bet_id, 10))
    await hypetech.post(LOSES, bet(user, tx(), 10, action="lose"))

    response = await hypetech.post(ROLLBACK, {**bet(user, tx(), 10), "linked_tx_id": bet_id})

    assert (response.status_code, response.json()["new_balance"]) == (200, "100.00")


async def test_refuses_to_roll_back_a_bet_of_a_round_already_paid(
    ledger: Ledger, hypetech: Hypetech
) -> None:
    user, bet_id, round_id = await ledger.player("100.00"), tx(), tx()
    await hypetech.post(REGISTER, bet(user, bet_id, 10, round_id=round_id))
    await hypetech.post(REWARDS, bet(user, tx(), 30, round_id=round_id, action="win"))

    response = await hypetech.post(ROLLBACK, {**bet(user, tx(), 10), "linked_tx_id": bet_id})

    assert (response.status_code, slug(response)) == (409, "bet-already-settled")
    assert await ledger.balance(user) == 120_00


async def test_answers_a_rollback_of_an_unknown_bet_with_the_balance(
    ledger: Ledger, hypetech: Hypetech
) -> None:
    user = await ledger.player("100.00")

    response = await hypetech.post(ROLLBACK, {**bet(user, tx(), 10), "linked_tx_id": tx()})

    assert (response.status_code, response.json()["new_balance"]) == (200, "100.00")


# --- balance ----------------------------------------------------------------------------


async def test_answers_a_v4_balance_read(ledger: Ledger, hypetech: Hypetech) -> None:
    user = await ledger.player("42.50")

    response = await hypetech.post(
        BALANCE, {"user_id": user, "currency": "USD", "session_token": f"tok-{user}"}
    )

    body = response.json()
    assert response.status_code == 200
    assert (body["balance"], body["old_balance"], body["new_balance"]) == ("42.50",) * 3
    assert body["hypetech_session_token"] == f"tok-{user}"


async def test_answers_a_v3_balance_read_sent_as_get(ledger: Ledger, hypetech: Hypetech) -> None:
    user = await ledger.player("42.50")

    response = await hypetech.get(BALANCE, bet(user, tx(), 200))

    assert (response.status_code, response.json()["balance"]) == (200, "42.50")


async def test_refuses_a_balance_read_of_a_missing_account(hypetech: Hypetech) -> None:
    response = await hypetech.post(BALANCE, {"user_id": f"nobody-{tx()}", "currency": "USD"})

    assert (response.status_code, slug(response)) == (404, "account-not-found")


# --- any --------------------------------------------------------------------------------


async def test_refuses_a_wrong_signature_and_moves_nothing(
    ledger: Ledger, hypetech: Hypetech
) -> None:
    user = await ledger.player("100.00")
    body = dumps_compact(bet(user, tx(), 10)).encode()

    response = await hypetech.http.post(BET, content=body, headers={"Hype-Hash": "ab" * 32})

    assert (response.status_code, slug(response)) == (401, "invalid-signature")
    assert await ledger.balance(user) == 100_00


async def test_refuses_a_body_that_is_not_an_object(hypetech: Hypetech) -> None:
    response = await hypetech.http.post(
        BET, content=b"[1]", headers=signed_headers(hypetech.settings, BET, b"[1]")
    )

    assert (response.status_code, slug(response)) == (400, "malformed-request")


async def test_refuses_a_body_over_64_kib(hypetech: Hypetech) -> None:
    body = b'{"pad":"' + b"x" * 65_536 + b'"}'

    response = await hypetech.http.post(
        BET, content=body, headers=signed_headers(hypetech.settings, BET, body)
    )

    assert (response.status_code, slug(response)) == (413, "payload-too-large")


async def test_names_a_missing_required_field(ledger: Ledger, hypetech: Hypetech) -> None:
    fields = bet(await ledger.player("100.00"), tx())
    del fields["provider_tx_id"]

    response = await hypetech.post(BET, fields)

    assert (response.status_code, slug(response), response.json()["field"]) == (
        400,
        "invalid-field",
        "provider_tx_id",
    )


async def test_answers_503_while_the_ledger_is_down_then_the_decision_applied_once(
    common_env: dict[str, Any], db_pool: asyncpg.Pool
) -> None:
    settings = ledger_settings(common_env)
    await create_ledger_topics(settings)
    rpc = KafkaRpcClient(settings, request_topic=COMMANDS, client_id="e2e-operator")
    await rpc.start()
    ingress = ingress_settings(kafka_env_of(settings), ledger_timeout_s=1.0)
    try:
        async with running_ledger(settings, relay=False) as service:
            user = await Ledger(settings, rpc, db_pool, service).player("100.00")
        with ServedIngress(ingress, ledger=False) as served:
            async with httpx.AsyncClient(base_url=served.base_url, timeout=3.0) as http:
                hypetech = Hypetech(ingress, http)
                webhook = bet(user, tx(), 10)

                while_down = await hypetech.post(BET, webhook)
                async with running_ledger(settings, relay=False):
                    after = await hypetech.post(BET, webhook)
                    again = await hypetech.post(BET, webhook)
    finally:
        await rpc.stop()

    assert (while_down.status_code, slug(while_down)) == (503, "ledger-unavailable")
    assert while_down.headers["retry-after"] == "1"
    assert (after.status_code, after.json()["new_balance"]) == (200, "90.00")
    assert again.content == after.content
    balance = await db_pool.fetchval(
        "SELECT balance FROM accounts WHERE user_id = $1 AND currency = 'USD'", user
    )
    assert balance == 90_00
