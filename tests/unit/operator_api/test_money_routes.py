from __future__ import annotations

from decimal import Decimal

from shared.contracts.commands import LedgerReply, OperatorKind
from tests.unit.operator_api.conftest import Api

DEPOSIT = "/accounts/u1/BRL/deposits"


async def test_a_deposit_without_an_idempotency_key_is_refused(api: Api) -> None:
    response = await api.http.post(DEPOSIT, json={"amount": "10.00"})

    assert response.status_code == 400
    assert response.json()["type"].endswith("/idempotency-key-required")
    assert api.ledger.sent == []


async def test_a_deposit_is_published_as_an_operator_command_keyed_by_the_caller(api: Api) -> None:
    await api.http.post(DEPOSIT, json={"amount": "10.50"}, headers={"Idempotency-Key": "k1"})

    (command,) = api.ledger.sent
    assert (command.kind, command.idempotency_key, command.user_id, command.currency) == (
        OperatorKind.DEPOSIT,
        "k1",
        "u1",
        "BRL",
    )
    assert command.amount == Decimal("10.50")


async def test_the_ledgers_reply_is_passed_through_unchanged(api: Api) -> None:
    api.ledger.reply = LedgerReply(
        status=403, body='{"type":"x/insufficient-funds","balance":"1.00"}'
    )

    response = await api.http.post(
        "/accounts/u1/BRL/withdrawals", json={"amount": "5"}, headers={"Idempotency-Key": "k2"}
    )

    assert response.status_code == 403
    assert response.content == b'{"type":"x/insufficient-funds","balance":"1.00"}'


async def test_a_key_reused_with_another_amount_gets_409_and_publishes_nothing(api: Api) -> None:
    await api.http.post(DEPOSIT, json={"amount": "10"}, headers={"Idempotency-Key": "k3"})

    response = await api.http.post(
        DEPOSIT, json={"amount": "11"}, headers={"Idempotency-Key": "k3"}
    )

    assert response.status_code == 409
    assert response.json()["type"].endswith("/duplicate-transaction-mismatch")
    assert len(api.ledger.sent) == 1


async def test_a_key_reused_on_another_endpoint_gets_409(api: Api) -> None:
    await api.http.post(DEPOSIT, json={"amount": "10"}, headers={"Idempotency-Key": "k4"})

    response = await api.http.post(
        "/accounts/u1/BRL/withdrawals", json={"amount": "10"}, headers={"Idempotency-Key": "k4"}
    )

    assert response.status_code == 409


async def test_the_same_amount_written_differently_is_the_same_request(api: Api) -> None:
    await api.http.post(DEPOSIT, json={"amount": "10"}, headers={"Idempotency-Key": "k5"})

    response = await api.http.post(
        DEPOSIT, content=b'{"amount": 10.00}', headers={"Idempotency-Key": "k5"}
    )

    assert response.status_code == 200
    assert len(api.ledger.sent) == 2


async def test_an_amount_finer_than_the_currency_is_refused(api: Api) -> None:
    response = await api.http.post(
        DEPOSIT, json={"amount": "1.001"}, headers={"Idempotency-Key": "k6"}
    )

    assert response.status_code == 400
    assert response.json()["type"].endswith("/invalid-amount")


async def test_a_zero_amount_is_refused(api: Api) -> None:
    response = await api.http.post(DEPOSIT, json={"amount": "0"}, headers={"Idempotency-Key": "k7"})

    assert response.json()["type"].endswith("/invalid-amount")


async def test_an_unknown_currency_is_refused(api: Api) -> None:
    response = await api.http.post(
        "/accounts/u1/XXX/deposits", json={"amount": "1"}, headers={"Idempotency-Key": "k8"}
    )

    assert response.json()["type"].endswith("/unknown-currency")


async def test_a_silent_ledger_gives_503_with_retry_after(api: Api) -> None:
    api.ledger.unavailable = True

    response = await api.http.post(DEPOSIT, json={"amount": "1"}, headers={"Idempotency-Key": "k9"})

    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert response.json()["type"].endswith("/ledger-unavailable")


async def test_a_body_that_is_not_json_is_a_malformed_request(api: Api) -> None:
    response = await api.http.post(DEPOSIT, content=b"{", headers={"Idempotency-Key": "k10"})

    assert response.json()["type"].endswith("/malformed-request")


async def test_an_unknown_field_is_named_in_the_problem(api: Api) -> None:
    response = await api.http.post(
        DEPOSIT, json={"amount": "1", "amunt": "2"}, headers={"Idempotency-Key": "k11"}
    )

    assert response.json()["field"] == "amunt"


async def test_block_without_a_body_publishes_a_block_command(api: Api) -> None:
    response = await api.http.post("/accounts/u1/BRL/block")

    assert response.status_code == 200
    assert api.ledger.sent[0].kind is OperatorKind.BLOCK


async def test_a_reason_holding_nul_is_refused_and_publishes_nothing(api: Api) -> None:
    response = await api.http.post(
        DEPOSIT, json={"amount": "10", "reason": "a\u0000b"}, headers={"Idempotency-Key": "k-nul"}
    )

    assert response.status_code == 400
    assert (response.json()["type"].endswith("/invalid-field"), response.json()["field"]) == (
        True,
        "reason",
    )
    assert api.ledger.sent == []
