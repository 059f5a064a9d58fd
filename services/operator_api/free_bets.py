"""Free bets: grant through the provider, then record the grant; list a player's grants."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.operator_api import cursor
from services.operator_api.accounts import existing_account, path_account
from services.operator_api.commands import checked_currency, claim_key, positive_amount
from services.operator_api.context import Context
from services.operator_api.http import ProblemError, json_response, read_model
from services.operator_api.idempotency import HEADER
from services.operator_api.models import GrantFreeBets
from services.operator_api.pages import limit_of, page, position_of
from services.operator_api.ports import FreeBetOffer, NewGrant, ProviderFailed
from services.operator_api.protection import refuse_if_excluded
from shared.logs import get_logger
from shared.money import minor_to_decimal

log = get_logger(__name__)


def routes(ctx: Context) -> list[Route]:
    async def keyed(request: Request, body: dict[str, Any]) -> str | None:
        """The caller's optional key, claimed for this request (409 when used for another)."""
        if not request.headers.get(HEADER, "").strip():
            return None
        return await claim_key(ctx, request, body, required=True)

    async def grant(request: Request) -> Response:
        body, _ = await read_model(request, GrantFreeBets)
        currency = checked_currency(ctx, body.currency)
        value_minor = positive_amount(ctx, body.value, currency, field="value")
        if body.expires_at <= ctx.clock():
            raise ProblemError(
                "invalid-field", "expires_at must be in the future", field="expires_at"
            )
        account = await existing_account(ctx, body.user_id, currency)
        if account.blocked:
            raise ProblemError("player-blocked", f"player {body.user_id!r} is blocked")
        await refuse_if_excluded(ctx, body.user_id, currency)
        key = await keyed(request, {**body.model_dump(mode="json"), "value": value_minor})
        if key is None:
            stored = await redeem_and_record(body, currency, value_minor, None, ctx.store.add_grant)
            return json_response(stored, status=201)
        # One request per key at a time, across instances: a concurrent retry waits here and
        # then finds the grant recorded, so the provider is asked once.
        async with ctx.store.key_lock(key) as grants:
            recorded = await grants.grant_by_key(key)
            if recorded is not None:
                # The first answer: a grant is recorded with every unit remaining.
                first = {**recorded, "remaining": recorded["quantity"]}
                return json_response(
                    first, status=201, headers={HEADER: key, "Idempotent-Replayed": "true"}
                )
            stored = await redeem_and_record(body, currency, value_minor, key, grants.add_grant)
        return json_response(stored, status=201, headers={HEADER: key})

    async def redeem_and_record(
        body: GrantFreeBets,
        currency: str,
        value_minor: int,
        key: str | None,
        record: Callable[[NewGrant], Awaitable[dict[str, Any]]],
    ) -> dict[str, Any]:
        try:
            await ctx.provider.redeem_free_bet(
                FreeBetOffer(
                    game=body.game,
                    user_id=body.user_id,
                    quantity=body.quantity,
                    value=minor_to_decimal(value_minor, currency, ctx.currencies),
                    currency=currency,
                    expires_at=body.expires_at,
                    bonus_code=body.bonus_code,
                    max_multiplier=body.max_multiplier,
                )
            )
        except ProviderFailed as exc:
            ctx.metrics.provider_calls.labels("redeem_free_bet", "failed").inc()
            raise ProblemError(
                "provider-error", exc.detail, provider_status=exc.provider_status
            ) from exc
        ctx.metrics.provider_calls.labels("redeem_free_bet", "ok").inc()
        stored = await record(
            NewGrant(
                user_id=body.user_id,
                currency=currency,
                game=body.game,
                quantity=body.quantity,
                value_minor=value_minor,
                expires_at=body.expires_at,
                bonus_code=body.bonus_code,
                max_multiplier=body.max_multiplier,
                idempotency_key=key,
            )
        )
        log.info(
            "operator_api.free_bets.granted", user_id=body.user_id, grant_id=stored["grant_id"]
        )
        return stored

    async def grants(request: Request) -> Response:
        user_id, currency = path_account(ctx, request)
        limit = limit_of(request)
        fingerprint = cursor.filters_fingerprint(
            {"user_id": user_id, "currency": currency, "list": "free-bets"}
        )
        after = position_of(request, fingerprint)
        await existing_account(ctx, user_id, currency)
        rows = await ctx.store.grants_of(user_id, currency, after, limit + 1)
        return json_response(page(rows, limit, fingerprint))

    return [
        Route("/free-bets", grant, methods=["POST"]),
        Route("/accounts/{user_id}/{currency}/free-bets", grants, methods=["GET"]),
    ]
