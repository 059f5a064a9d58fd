"""The game provider through ``shared.hypetech``; Hypetech's errors become ``ProviderFailed``,
and a ``ProviderFailed`` becomes a ``provider-error`` problem without the provider's own words."""

from __future__ import annotations

import uuid
from typing import Any

from services.operator_api.http import ProblemError
from services.operator_api.ports import AccessRequest, FreeBetOffer, ProviderFailed, UnknownGame
from shared.hypetech import (
    CreateSessionRequest,
    FreeBetRequest,
    HypetechApiError,
    HypetechClient,
    HypetechError,
    HypetechUnavailable,
)
from shared.logs import get_logger


def provider_error(call: str, failure: ProviderFailed, **context: Any) -> ProblemError:
    """``failure`` as a 502 ``provider-error``: the provider's words (which may name its
    internals, or echo what it was sent) go to the log under a reference the answer carries.
    A game the provider does not list is the caller's mistake: 404 ``game-not-found``."""
    if isinstance(failure, UnknownGame):
        return unknown_game(failure)
    reference = uuid.uuid4().hex
    get_logger(__name__).warning(
        "operator_api.provider.failed",
        call=call,
        reference=reference,
        provider_status=failure.provider_status,
        detail=failure.detail,
        **context,
    )
    return ProblemError(
        "provider-error",
        f"the game provider did not complete {call}; see the logs under reference {reference}",
        provider_status=failure.provider_status,
        reference=reference,
    )


def unknown_game(failure: UnknownGame) -> ProblemError:
    """``failure`` as a 404 ``game-not-found``: the caller named a game the provider has not."""
    return ProblemError(
        "game-not-found",
        f"the game provider lists no game {failure.game!r}",
        field="game",
        provider_status=failure.provider_status,
    )


def _failure(exc: HypetechError) -> ProviderFailed:
    if isinstance(exc, HypetechApiError):
        detail = exc.detail or exc.title
        return ProviderFailed(
            f"Hypetech answered {exc.status}: {detail}", provider_status=exc.status
        )
    if isinstance(exc, HypetechUnavailable):
        return ProviderFailed(f"Hypetech is unavailable: {exc}", provider_status=exc.last_status)
    return ProviderFailed(f"Hypetech's answer was not usable: {exc}")


class HypetechProvider:
    def __init__(self, client: HypetechClient) -> None:
        self.client = client

    async def _refusal(self, game: str, exc: HypetechError) -> ProviderFailed:
        """Why the provider refused a call naming ``game``: an ``UnknownGame`` when it answered
        404 and its game list (read now, on this failure only) does not hold the game; otherwise
        the failure as it is (a 404 is also what a wrong route answers)."""
        failure = _failure(exc)
        if not (isinstance(exc, HypetechApiError) and exc.status == 404):
            return failure
        try:
            games = await self.client.list_games()
        except HypetechError:
            return failure
        if any(listed.slug == game for listed in games):
            return failure
        return UnknownGame(game, failure.detail)

    async def request_access(self, request: AccessRequest) -> str:
        try:
            response = await self.client.create_session(
                CreateSessionRequest(
                    game=request.game,
                    user_id=request.user_id,
                    username=request.username,
                    currency=request.currency,
                    balance=request.balance,
                    avatar_url=request.avatar_url,
                    lang=request.language,
                    extra_data=request.extra_data,
                    expires_in_minutes=request.expires_in_minutes,
                )
            )
        except HypetechError as exc:
            raise await self._refusal(request.game, exc) from exc
        return response.game_url

    async def redeem_free_bet(self, offer: FreeBetOffer) -> None:
        try:
            await self.client.redeem_free_bet(
                FreeBetRequest(
                    game_slug=offer.game,
                    user_id=offer.user_id,
                    quantity=offer.quantity,
                    value=offer.value,
                    currency=offer.currency,
                    expires_at=offer.expires_at,
                    bonus_code=offer.bonus_code,
                    max_multiplier=offer.max_multiplier,
                )
            )
        except HypetechError as exc:
            raise await self._refusal(offer.game, exc) from exc
