"""Player protection's routes: commands published to the ledger, the limits view, and a launch
refused for an excluded player without asking the provider."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from services.operator_api.ports import ProtectionRows
from shared.contracts.commands import OperatorKind
from shared.contracts.protection import LimitKind, LimitPeriod
from tests.unit.operator_api.conftest import Api

LIMITS = "/accounts/u1/BRL/limits"
WHO = {"reason": "player asked", "requested_by": "support-7"}


async def test_a_limit_is_published_as_a_command_keyed_by_the_caller(api: Api) -> None:
    api.store.add_account("u1", "BRL")

    await api.http.put(
        LIMITS,
        json={"limit": "loss", "period": "day", "amount": "100.00", **WHO},
        headers={"Idempotency-Key": "k1"},
    )

    (command,) = api.ledger.sent
    assert (command.kind, command.idempotency_key, command.limit, command.period) == (
        OperatorKind.SET_LIMIT,
        "k1",
        LimitKind.LOSS,
        LimitPeriod.DAY,
    )
    assert (command.amount, command.requested_by, command.reason) == (
        Decimal("100.00"),
        "support-7",
        "player asked",
    )


async def test_a_limit_without_a_reason_is_refused_before_the_ledger(api: Api) -> None:
    response = await api.http.put(
        LIMITS,
        json={"limit": "loss", "period": "day", "amount": "1", "requested_by": "x"},
        headers={"Idempotency-Key": "k2"},
    )

    assert (response.status_code, response.json()["type"].rsplit("/", 1)[-1]) == (
        400,
        "invalid-field",
    )
    assert api.ledger.sent == []


async def test_max_bet_takes_no_calendar_period(api: Api) -> None:
    response = await api.http.put(
        LIMITS,
        json={"limit": "max_bet", "period": "day", "amount": "1", **WHO},
        headers={"Idempotency-Key": "k3"},
    )

    assert (response.status_code, response.json()["field"]) == (400, "period")
    assert api.ledger.sent == []


async def test_removing_a_limit_is_published_as_a_command(api: Api) -> None:
    await api.http.request(
        "DELETE",
        LIMITS,
        json={"limit": "wager", "period": "week", **WHO},
        headers={"Idempotency-Key": "k4"},
    )

    (command,) = api.ledger.sent
    assert (command.kind, command.limit, command.period) == (
        OperatorKind.REMOVE_LIMIT,
        LimitKind.WAGER,
        LimitPeriod.WEEK,
    )


async def test_an_exclusion_and_a_time_out_are_published_as_commands(api: Api) -> None:
    until = "2030-01-01T00:00:00+00:00"

    await api.http.post("/accounts/u1/BRL/exclusion", json=WHO, headers={"Idempotency-Key": "k5"})
    await api.http.post(
        "/accounts/u1/BRL/exclusion",
        json={"kind": "time_out", "until": until, **WHO},
        headers={"Idempotency-Key": "k6"},
    )

    assert [(c.kind, c.until) for c in api.ledger.sent] == [
        (OperatorKind.EXCLUDE, None),
        (OperatorKind.TIME_OUT, datetime(2030, 1, 1, tzinfo=UTC)),
    ]


async def test_a_time_out_without_an_end_is_refused(api: Api) -> None:
    response = await api.http.post(
        "/accounts/u1/BRL/exclusion",
        json={"kind": "time_out", **WHO},
        headers={"Idempotency-Key": "k7"},
    )

    assert (response.status_code, response.json()["field"]) == (400, "until")


async def test_the_view_shows_what_is_in_force_used_and_still_allowed(api: Api) -> None:
    api.store.add_account("u1", "BRL")
    now = datetime.now(UTC)
    api.store.protections[("u1", "BRL")] = ProtectionRows(
        limits=[
            {
                "kind": "loss",
                "period": "day",
                "amount": 100_00,
                "pending_amount": 500_00,
                "pending_at": now + timedelta(hours=3),
            },
            {  # removed: its cooling-off period has ended
                "kind": "max_bet",
                "period": "bet",
                "amount": 5_00,
                "pending_amount": None,
                "pending_at": now - timedelta(hours=1),
            },
            {
                "kind": "wager",
                "period": "month",
                "amount": 50_00,
                "pending_amount": None,
                "pending_at": None,
            },
        ],
        totals=[
            {
                "period": "day",
                "period_start": now.date(),
                "deposits": 0,
                "wagers": 0,
                "losses": 30_00,
            },
            {  # an earlier month: counts as zero
                "period": "month",
                "period_start": date(2000, 1, 1),
                "deposits": 0,
                "wagers": 40_00,
                "losses": 0,
            },
        ],
    )

    view = (await api.http.get(LIMITS)).json()

    assert [
        (item["limit"], item["limit_amount"], item["used"], item["allowed"], item["pending"])
        for item in view["limits"]
    ] == [
        (
            "loss",
            "100.00",
            "30.00",
            "70.00",
            {"amount": "500.00", "effective_at": (now + timedelta(hours=3)).isoformat()},
        ),
        ("wager", "50.00", "0.00", "50.00", None),
    ]
    assert (view["time_zone"], view["exclusion"]) == ("UTC", None)


async def test_a_launch_of_an_excluded_player_is_refused_without_asking_the_provider(
    api: Api,
) -> None:
    api.store.add_account("u1", "BRL", balance=10_00)
    api.store.protections[("u1", "BRL")] = ProtectionRows(
        exclusion={"kind": "self_exclusion", "since": datetime.now(UTC), "until": None}
    )

    response = await api.http.post(
        "/sessions", json={"user_id": "u1", "game": "aviador", "username": "p1"}
    )

    assert (response.status_code, response.json()["type"].rsplit("/", 1)[-1]) == (
        403,
        "player-self-excluded",
    )
    assert api.provider.access_requests == []


async def test_free_bets_for_an_excluded_player_are_refused_without_asking_the_provider(
    api: Api,
) -> None:
    api.store.add_account("u1", "BRL", balance=10_00)
    until = datetime.now(UTC) + timedelta(days=1)
    api.store.protections[("u1", "BRL")] = ProtectionRows(
        exclusion={"kind": "time_out", "since": datetime.now(UTC), "until": until}
    )

    response = await api.http.post(
        "/free-bets",
        json={
            "user_id": "u1",
            "currency": "BRL",
            "game": "aviador",
            "quantity": 1,
            "value": "1.00",
            "expires_at": (datetime.now(UTC) + timedelta(days=2)).isoformat(),
        },
    )

    assert (response.status_code, response.json()["until"]) == (403, until.isoformat())
    assert api.provider.offers == []
