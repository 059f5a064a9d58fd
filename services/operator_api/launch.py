"""Game launch: read the balance, ask the provider for a session, store it, return ``game_url``."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

import asyncpg
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.operator_api.commands import checked_currency
from services.operator_api.context import Context
from services.operator_api.http import ProblemError, json_response, read_model
from services.operator_api.models import LaunchGame
from services.operator_api.ports import AccessRequest, Account, NewSession, ProviderFailed
from services.operator_api.protection import refuse_if_excluded
from shared.logs import get_logger
from shared.money import format_minor, minor_to_decimal

log = get_logger(__name__)


def session_token_of(game_url: str) -> str:
    """The last path segment of ``game_url``: the token Hypetech's webhooks will carry."""
    token = urlsplit(game_url).path.rstrip("/").rsplit("/", 1)[-1]
    if not token:
        raise ProviderFailed(f"the game_url {game_url!r} carries no session token")
    return token


async def launch_account(ctx: Context, body: LaunchGame) -> Account:
    """The account to play with: the one named, or the player's only one. Blocked is refused."""
    if body.currency is not None:
        currency = checked_currency(ctx, body.currency)
        account = await ctx.store.account(body.user_id, currency)
        accounts = [] if account is None else [account]
    else:
        accounts = list(await ctx.store.accounts_of(body.user_id))
    if not accounts:
        raise ProblemError(
            "account-not-found",
            f"player {body.user_id!r} has no such account",
            user_id=body.user_id,
        )
    if len(accounts) > 1:
        raise ProblemError(
            "invalid-field",
            "the player holds several currencies: name one in currency",
            field="currency",
        )
    account = accounts[0]
    if account.blocked:
        raise ProblemError(
            "player-blocked", f"player {body.user_id!r} is blocked", user_id=body.user_id
        )
    await refuse_if_excluded(ctx, account.user_id, account.currency)  # Hypetech is not asked
    return account


def routes(ctx: Context) -> list[Route]:
    async def launch(request: Request) -> Response:
        body, _ = await read_model(request, LaunchGame)
        account = await launch_account(ctx, body)
        balance = minor_to_decimal(account.balance_minor, account.currency, ctx.currencies)
        try:
            game_url = await ctx.provider.request_access(
                AccessRequest(
                    game=body.game,
                    user_id=account.user_id,
                    username=body.username,
                    currency=account.currency,
                    balance=balance,
                    language=body.language,
                    avatar_url=body.avatar,
                    expires_in_minutes=body.expires_in_minutes,
                    extra_data=body.extra_data,
                )
            )
            token = session_token_of(game_url)
        except ProviderFailed as exc:
            ctx.metrics.provider_calls.labels("request_access", "failed").inc()
            log.warning(
                "operator_api.launch.provider_failed", user_id=body.user_id, detail=exc.detail
            )
            raise ProblemError(
                "provider-error", exc.detail, provider_status=exc.provider_status
            ) from exc
        ctx.metrics.provider_calls.labels("request_access", "ok").inc()
        expires_at = ctx.clock() + timedelta(minutes=body.expires_in_minutes)
        try:
            await ctx.store.add_session(
                NewSession(
                    token=token,
                    user_id=account.user_id,
                    currency=account.currency,
                    game=body.game,
                    game_url=game_url,
                    expires_at=expires_at,
                )
            )
        except asyncpg.UniqueViolationError:
            raise ProblemError(
                "provider-error", f"the provider returned a session token already in use: {token}"
            ) from None
        log.info("operator_api.launch.opened", user_id=account.user_id, game=body.game)
        return json_response(
            {
                "game_url": game_url,
                "session_token": token,
                "user_id": account.user_id,
                "currency": account.currency,
                "game": body.game,
                "balance": format_minor(account.balance_minor, account.currency, ctx.currencies),
                "expires_at": expires_at.isoformat(),
            },
            status=201,
        )

    return [Route("/sessions", launch, methods=["POST"])]
