from __future__ import annotations

from datetime import timedelta

from structlog.testing import capture_logs

from services.operator_api.cursor import Position
from services.operator_api.ports import ProviderFailed, Row
from tests.unit.operator_api.conftest import Api
from tests.unit.operator_api.fakes import T0

LAUNCH = {"user_id": "u1", "game": "aviador", "username": "Ana", "language": "pt"}


async def test_an_account_shows_its_balance_with_the_currencys_decimals(api: Api) -> None:
    api.store.add_account("u1", "BRL", balance=205000)

    response = await api.http.get("/accounts/u1/BRL/balance")

    assert response.json()["balance"] == "2050.00"


async def test_a_balance_is_the_account_without_its_times_in_the_accounts_order(api: Api) -> None:
    api.store.add_account("u1", "BRL", balance=205000)

    account = (await api.http.get("/accounts/u1/BRL")).json()
    balance = (await api.http.get("/accounts/u1/BRL/balance")).json()

    assert list(balance.items()) == [
        ("user_id", "u1"),
        ("currency", "BRL"),
        ("balance", "2050.00"),
        ("blocked", False),
    ]
    assert {key: account[key] for key in balance} == balance


async def test_an_unknown_account_is_account_not_found(api: Api) -> None:
    response = await api.http.get("/accounts/nobody/BRL")

    assert response.status_code == 404
    assert response.json()["type"].endswith("/account-not-found")


async def test_a_history_is_paged_with_cursors_until_the_last_row(api: Api) -> None:
    api.store.add_account("u1", "BRL")
    api.store.rows = [
        Row(Position(T0 + timedelta(seconds=i), (f"tx{i:02d}",)), {"n": i}) for i in range(7)
    ]
    seen: list[int] = []
    cursor = None

    for _ in range(10):
        params = {"limit": "3", **({"cursor": cursor} if cursor else {})}
        body = (await api.http.get("/accounts/u1/BRL/transactions", params=params)).json()
        seen += [item["n"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break

    assert seen == [6, 5, 4, 3, 2, 1, 0]


async def test_a_cursor_from_another_filter_is_refused(api: Api) -> None:
    api.store.add_account("u1", "BRL")
    api.store.rows = [Row(Position(T0, (f"tx{i}",)), {"n": i}) for i in range(3)]
    first = await api.http.get("/accounts/u1/BRL/transactions", params={"limit": "1"})

    response = await api.http.get(
        "/accounts/u1/BRL/transactions",
        params={"limit": "1", "kind": "bet", "cursor": first.json()["next_cursor"]},
    )

    assert response.status_code == 400
    assert response.json()["field"] == "cursor"


async def test_a_time_filter_without_an_offset_is_refused(api: Api) -> None:
    api.store.add_account("u1", "BRL")

    response = await api.http.get(
        "/accounts/u1/BRL/transactions", params={"since": "2026-05-04T10:00:00"}
    )

    assert response.json()["field"] == "since"


async def test_a_launch_stores_the_session_named_by_the_urls_last_segment(api: Api) -> None:
    api.store.add_account("u1", "BRL", balance=2000)

    response = await api.http.post("/sessions", json=LAUNCH)

    assert response.status_code == 201
    assert response.json()["game_url"] == api.provider.game_url
    assert [s.token for s in api.store.sessions] == ["tok123"]
    assert str(api.provider.access_requests[0].balance) == "20.00"


async def test_a_launch_for_an_unknown_player_is_account_not_found(api: Api) -> None:
    response = await api.http.post("/sessions", json=LAUNCH)

    assert response.status_code == 404
    assert api.provider.access_requests == []


async def test_a_launch_for_a_blocked_player_is_refused(api: Api) -> None:
    api.store.add_account("u1", "BRL", blocked=True)

    response = await api.http.post("/sessions", json=LAUNCH)

    assert response.status_code == 403
    assert response.json()["type"].endswith("/player-blocked")


async def test_a_launch_needs_a_currency_when_the_player_holds_several(api: Api) -> None:
    api.store.add_account("u1", "BRL")
    api.store.add_account("u1", "USD")

    response = await api.http.post("/sessions", json=LAUNCH)

    assert response.json()["field"] == "currency"


async def test_a_provider_refusal_is_a_502_whose_words_stay_in_the_log(api: Api) -> None:
    api.store.add_account("u1", "BRL")
    api.provider.failure = ProviderFailed(
        "Hypetech answered 404: Game not found (db shard eu-3)", provider_status=404
    )

    with capture_logs() as logs:
        response = await api.http.post("/sessions", json=LAUNCH)

    assert response.status_code == 502
    body = response.json()
    assert (body["type"].endswith("/provider-error"), body["provider_status"]) == (True, 404)
    assert "Game not found" not in response.text
    assert "eu-3" not in response.text
    (logged,) = [entry for entry in logs if entry["event"] == "operator_api.provider.failed"]
    assert logged["detail"] == "Hypetech answered 404: Game not found (db shard eu-3)"
    assert logged["reference"] == body["reference"]
    assert body["reference"] in body["detail"]
    assert api.store.sessions == []


async def test_a_free_bet_grant_is_stored_only_after_the_provider_accepted_it(api: Api) -> None:
    api.store.add_account("u1", "BRL")
    api.provider.failure = ProviderFailed("Hypetech is unavailable")

    response = await api.http.post(
        "/free-bets",
        json={
            "user_id": "u1",
            "currency": "BRL",
            "game": "aviador",
            "quantity": 5,
            "value": "10.00",
            "expires_at": "2099-12-31T23:59:59Z",
        },
    )

    assert response.status_code == 502
    assert api.store.grants == []


async def test_the_openapi_document_lists_every_route(api: Api) -> None:
    document = (await api.http.get("/openapi.json")).json()

    assert {"/accounts", "/sessions", "/free-bets", "/findings"} <= set(document["paths"])


async def test_an_unknown_path_is_a_not_found_problem(api: Api) -> None:
    response = await api.http.get("/nowhere")

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
