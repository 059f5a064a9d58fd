"""Player protection: read an account's limits, exclusion and history; set and remove limits,
exclude and time out (commands to the ledger, which decides them with the money).

The API never writes a limit: like deposits, each change is an ``OperatorCommand`` keyed by the
player with the caller's ``Idempotency-Key``, and the ledger's stored reply is passed through.
Reads resolve what is in force at the API's clock, with the ledger's rules (a raise or a removal
waits for ``pending_at``; a period's total counts only in its own calendar period).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.operator_api.accounts import existing_account, path_account
from services.operator_api.commands import claim_key, positive_amount, send_command
from services.operator_api.context import Context
from services.operator_api.http import ProblemError, json_response, read_model
from services.operator_api.models import Exclude, RemoveLimit, SetLimit
from services.operator_api.ports import ProtectionRows
from shared.contracts.commands import OperatorKind
from shared.contracts.protection import (
    ExclusionKind,
    LimitKind,
    LimitPeriod,
    limit_in_force,
    period_fits,
    period_start,
)
from shared.money import format_minor

_TOTAL_COLUMN = {LimitKind.DEPOSIT: "deposits", LimitKind.WAGER: "wagers", LimitKind.LOSS: "losses"}


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def exclusion_in_force(rows: ProtectionRows, at: datetime) -> dict[str, Any] | None:
    """The stored exclusion if it is in force at ``at`` (the ledger's rule: until its end)."""
    exclusion = rows.exclusion
    if exclusion is None or (exclusion["until"] is not None and at >= exclusion["until"]):
        return None
    return exclusion


async def refuse_if_excluded(ctx: Context, user_id: str, currency: str) -> None:
    """403 ``player-self-excluded`` for a player excluded now (launches and free-bet grants are
    refused here, before the provider is asked)."""
    rows = await ctx.store.protection(user_id, currency)
    exclusion = exclusion_in_force(rows, ctx.clock())
    if exclusion is not None:
        until = exclusion["until"]
        raise ProblemError(
            "player-self-excluded",
            f"player {user_id!r} is self-excluded"
            + ("" if until is None else f" until {until.isoformat()}"),
            user_id=user_id,
            exclusion=exclusion["kind"],
            until=_iso(until),
        )


def protection_view(
    ctx: Context, user_id: str, currency: str, rows: ProtectionRows, now: datetime
) -> dict[str, Any]:
    """The limits in force at ``now`` with what each period has used and still allows, any
    pending change, and the exclusion."""

    def money(minor: int | None) -> str | None:
        return None if minor is None else format_minor(minor, currency, ctx.currencies)

    time_zone = ctx.settings.ledger_time_zone
    totals = {row["period"]: row for row in rows.totals}
    limits = []
    for row in rows.limits:
        kind, period = LimitKind(row["kind"]), LimitPeriod(row["period"])
        in_force = limit_in_force(row["amount"], row["pending_amount"], row["pending_at"], now)
        if in_force is None:  # removed once its cooling-off period ended
            continue
        pending_at = row["pending_at"]
        pending = None
        if pending_at is not None and now < pending_at:
            pending = {"amount": money(row["pending_amount"]), "effective_at": _iso(pending_at)}
        item: dict[str, Any] = {
            "limit": kind.value,
            "period": period.value,
            "limit_amount": money(in_force),
            "pending": pending,
        }
        if period is not LimitPeriod.BET:
            start = period_start(now, period, time_zone)
            stored = totals.get(period.value)
            used = stored[_TOTAL_COLUMN[kind]] if stored and stored["period_start"] == start else 0
            item |= {
                "period_start": start.isoformat(),
                "used": money(used),
                "allowed": money(max(0, in_force - used)),
            }
        limits.append(item)
    exclusion = exclusion_in_force(rows, now)
    return {
        "user_id": user_id,
        "currency": currency,
        "time_zone": time_zone,
        "limits": limits,
        "exclusion": None
        if exclusion is None
        else {
            "kind": exclusion["kind"],
            "since": _iso(exclusion["since"]),
            "until": _iso(exclusion["until"]),
        },
    }


def history_view(ctx: Context, currency: str, row: dict[str, Any]) -> dict[str, Any]:
    amount = row["amount"]
    view = {name: _iso(v) if isinstance(v, datetime) else v for name, v in row.items()}
    view["amount"] = None if amount is None else format_minor(amount, currency, ctx.currencies)
    return view


def routes(ctx: Context) -> list[Route]:
    async def show(request: Request) -> Response:
        user_id, currency = path_account(ctx, request)
        await existing_account(ctx, user_id, currency)
        rows = await ctx.store.protection(user_id, currency)
        return json_response(protection_view(ctx, user_id, currency, rows, ctx.clock()))

    async def history(request: Request) -> Response:
        user_id, currency = path_account(ctx, request)
        await existing_account(ctx, user_id, currency)
        rows = await ctx.store.protection_history(user_id, currency)
        return json_response({"items": [history_view(ctx, currency, row) for row in rows]})

    def checked_period(limit: LimitKind, period: LimitPeriod) -> None:
        if not period_fits(limit, period):
            raise ProblemError(
                "invalid-field",
                "period must be bet for max_bet, and day, week or month for the others",
                field="period",
            )

    async def set_limit(request: Request) -> Response:
        account = path_account(ctx, request)
        body, _ = await read_model(request, SetLimit)
        checked_period(body.limit, body.period)
        minor = positive_amount(ctx, body.amount, account[1])
        fingerprinted = {**body.model_dump(mode="json"), "amount": minor}
        key = await claim_key(ctx, request, fingerprinted, required=True)
        return await send_command(
            ctx,
            request,
            OperatorKind.SET_LIMIT,
            key,
            account,
            asked=body,
            amount_minor=minor,
            limit=body.limit,
            period=body.period,
        )

    async def remove_limit(request: Request) -> Response:
        account = path_account(ctx, request)
        body, _ = await read_model(request, RemoveLimit)
        checked_period(body.limit, body.period)
        key = await claim_key(ctx, request, body.model_dump(mode="json"), required=True)
        kind = OperatorKind.REMOVE_LIMIT
        return await send_command(
            ctx, request, kind, key, account, asked=body, limit=body.limit, period=body.period
        )

    async def exclude(request: Request) -> Response:
        account = path_account(ctx, request)
        body, _ = await read_model(request, Exclude)
        if body.kind is ExclusionKind.TIME_OUT and body.until is None:
            raise ProblemError("invalid-field", "a time-out needs an end (until)", field="until")
        key = await claim_key(ctx, request, body.model_dump(mode="json"), required=True)
        timed = body.kind is ExclusionKind.TIME_OUT
        kind = OperatorKind.TIME_OUT if timed else OperatorKind.EXCLUDE
        return await send_command(ctx, request, kind, key, account, asked=body, until=body.until)

    by_method = {"GET": show, "HEAD": show, "PUT": set_limit, "DELETE": remove_limit}

    async def limits(request: Request) -> Response:
        return await by_method[request.method](request)

    account = "/accounts/{user_id}/{currency}"
    return [
        # One route for the three methods, so a 405 on the path lists them all in Allow.
        Route(f"{account}/limits", limits, methods=["GET", "PUT", "DELETE"]),
        Route(f"{account}/limits/history", history, methods=["GET"]),
        Route(f"{account}/exclusion", exclude, methods=["POST"]),
    ]
