"""Accounts: create, show, list a player's, block, unblock, balance, deposit and withdraw."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.operator_api.commands import (
    checked_currency,
    claim_key,
    positive_amount,
    send_command,
)
from services.operator_api.context import Context
from services.operator_api.http import (
    ProblemError,
    checked,
    json_response,
    parse_json,
    read_model,
    validate,
)
from services.operator_api.models import AccountChange, CreateAccount, MoneyMovement
from services.operator_api.pages import time_of
from services.operator_api.ports import Account
from services.operator_api.views import account_view, balance_at_view, balance_view
from shared import identifiers
from shared.contracts.commands import OperatorKind


async def existing_account(ctx: Context, user_id: str, currency: str) -> Account:
    account = await ctx.store.account(user_id, currency)
    if account is None:
        raise ProblemError(
            "account-not-found", f"no {currency} account for player {user_id!r}", user_id=user_id
        )
    return account


def path_user(request: Request) -> str:
    return checked(identifiers.user_id, request.path_params["user_id"], "user_id")


def path_account(ctx: Context, request: Request) -> tuple[str, str]:
    currency = checked(identifiers.currency, request.path_params["currency"], "currency")
    return path_user(request), checked_currency(ctx, currency)


def routes(ctx: Context) -> list[Route]:
    async def create_account(request: Request) -> Response:
        body, _ = await read_model(request, CreateAccount)
        currency = checked_currency(ctx, body.currency)
        key = await claim_key(
            ctx, request, {"user_id": body.user_id, "currency": currency}, required=False
        )
        return await send_command(
            ctx, request, OperatorKind.CREATE_ACCOUNT, key, (body.user_id, currency)
        )

    async def show_account(request: Request) -> Response:
        user_id, currency = path_account(ctx, request)
        account = await existing_account(ctx, user_id, currency)
        return json_response(account_view(account, ctx.currencies))

    async def list_accounts(request: Request) -> Response:
        user_id = path_user(request)
        accounts = await ctx.store.accounts_of(user_id)
        if not accounts:
            raise ProblemError("account-not-found", f"player {user_id!r} has no account")
        return json_response({"items": [account_view(a, ctx.currencies) for a in accounts]})

    async def balance(request: Request) -> Response:
        user_id, currency = path_account(ctx, request)
        at = time_of(request, "at")
        account = await existing_account(ctx, user_id, currency)
        if at is None:
            return json_response(balance_view(account, ctx.currencies))
        minor = await ctx.store.balance_at(user_id, currency, at)
        return json_response(balance_at_view(account, minor, at, ctx.currencies))

    def change(kind: OperatorKind) -> Route:
        async def endpoint(request: Request) -> Response:
            account = path_account(ctx, request)
            raw = await request.body()
            body = validate(AccountChange, parse_json(raw)) if raw.strip() else AccountChange()
            key = await claim_key(ctx, request, body.model_dump(mode="json"), required=False)
            return await send_command(ctx, request, kind, key, account, asked=body)

        endpoint.__name__ = f"{kind.value}_account"
        return Route(f"/accounts/{{user_id}}/{{currency}}/{kind.value}", endpoint, methods=["POST"])

    def movement(kind: OperatorKind, segment: str) -> Route:
        async def endpoint(request: Request) -> Response:
            account = path_account(ctx, request)
            body, _ = await read_model(request, MoneyMovement)
            minor = positive_amount(ctx, body.amount, account[1])
            fingerprinted = {
                "amount": minor,
                "reason": body.reason,
                "requested_by": body.requested_by,
            }
            key = await claim_key(ctx, request, fingerprinted, required=True)
            return await send_command(
                ctx, request, kind, key, account, asked=body, amount_minor=minor
            )

        endpoint.__name__ = kind.value
        return Route(f"/accounts/{{user_id}}/{{currency}}/{segment}", endpoint, methods=["POST"])

    return [
        Route("/accounts", create_account, methods=["POST"]),
        Route("/players/{user_id}/accounts", list_accounts, methods=["GET"]),
        Route("/accounts/{user_id}/{currency}", show_account, methods=["GET"]),
        Route("/accounts/{user_id}/{currency}/balance", balance, methods=["GET"]),
        change(OperatorKind.BLOCK),
        change(OperatorKind.UNBLOCK),
        movement(OperatorKind.DEPOSIT, "deposits"),
        movement(OperatorKind.WITHDRAW, "withdrawals"),
    ]
