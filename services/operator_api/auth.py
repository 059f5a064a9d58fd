"""Bearer-token authentication against the configured operator tokens.

Every configured token is compared, in constant time, whatever the outcome of the previous ones,
so the time taken does not tell which token (or how much of one) matched.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence

from pydantic import SecretStr
from starlette.types import ASGIApp, Receive, Scope, Send

from services.operator_api.http import problem_response

#: Paths that answer without an operator token: the probes, and the metrics (which take the
#: metrics token instead when one is configured: ``shared.metrics_access``). The API description
#: needs an operator token like every route it describes.
PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


def token_matches(presented: str, tokens: Sequence[SecretStr]) -> bool:
    candidate = presented.encode()
    matched = False
    for token in tokens:
        matched |= hmac.compare_digest(candidate, token.get_secret_value().encode())
    return matched


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


class BearerAuth:
    """ASGI middleware: 401 ``unauthorized`` problem unless a configured token is presented."""

    def __init__(self, app: ASGIApp, tokens: Sequence[SecretStr]) -> None:
        self.app = app
        self.tokens = tuple(tokens)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in PUBLIC_PATHS:
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        raw = headers.get(b"authorization")
        presented = bearer_token(raw.decode("latin-1") if raw is not None else None)
        if presented is None or not token_matches(presented, self.tokens):
            detail = (
                "an Authorization: Bearer token is required"
                if presented is None
                else "the bearer token is not valid"
            )
            response = problem_response(
                "unauthorized",
                detail,
                instance=scope["path"],
                headers={"WWW-Authenticate": 'Bearer realm="hypeledger-operator"'},
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
