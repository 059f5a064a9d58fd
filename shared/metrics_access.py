"""``/metrics`` behind a token: what a service's internals tell is not for whoever can reach it.

``HYPELEDGER_METRICS_TOKEN`` set, the guarded paths answer 401 (an ``unauthorized`` problem)
unless the request carries ``Authorization: Bearer <token>`` (compared in constant time); unset,
they stay open, for deployments that keep the metrics port off every public route instead.
Prometheus sends the token with ``authorization: {credentials_file: ...}`` in its scrape config.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable

from pydantic import SecretStr
from starlette.types import ASGIApp, Receive, Scope, Send

from shared.contracts.problems import PROBLEM_CONTENT_TYPE, problem
from shared.jsonwire import dumps_compact

METRICS_PATHS = frozenset({"/metrics"})


class MetricsTokenGuard:
    """ASGI middleware: ``paths`` need the metrics token when one is configured."""

    def __init__(
        self, app: ASGIApp, token: SecretStr | None, paths: Iterable[str] = METRICS_PATHS
    ) -> None:
        self.app = app
        self.expected = None if token is None else f"Bearer {token.get_secret_value()}".encode()
        self.paths = frozenset(paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            self.expected is None
            or scope["type"] != "http"
            or scope["path"] not in self.paths
            or self._presented(scope)
        ):
            await self.app(scope, receive, send)
            return
        body = dumps_compact(
            problem("unauthorized", "this path needs the metrics token", instance=scope["path"])
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", PROBLEM_CONTENT_TYPE.encode()),
                    (b"content-length", str(len(body)).encode()),
                    (b"www-authenticate", b'Bearer realm="hypeledger-metrics"'),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    def _presented(self, scope: Scope) -> bool:
        assert self.expected is not None  # noqa: S101 - checked by the caller
        sent = b""
        for name, value in scope["headers"]:
            if name == b"authorization":
                sent = value
                break
        return hmac.compare_digest(sent, self.expected)
