"""The game provider through ``shared.hypetech``; Hypetech's errors become ``ProviderFailed``."""

from __future__ import annotations

from services.operator_api.ports import AccessRequest, FreeBetOffer, ProviderFailed
from shared.hypetech import (
    CreateSessionRequest,
    FreeBetRequest,
    HypetechApiError,
    HypetechClient,
    HypetechError,
    HypetechUnavailable,
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
            raise _failure(exc) from exc
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
            raise _failure(exc) from exc
