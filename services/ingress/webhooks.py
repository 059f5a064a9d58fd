"""One handler for every webhook route: verify, read, normalise, ask the ledger, answer.

Order per request: size limit (413) and ``Hype-Hash`` (401) before anything is parsed, then the
body and fields (400 ``malformed-request`` / ``invalid-field`` / ``invalid-amount`` /
``unknown-currency``), then the envelope is published keyed by ``user_id`` and the ledger's reply
is answered byte for byte (status, body, content type). No reply within the timeout: 503
``ledger-unavailable`` with ``Retry-After`` (safe to retry: the ledger stores every decision).
Nothing is published for a request rejected here.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Protocol
from urllib.parse import parse_qsl

import structlog
from pydantic import ValidationError
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from services.ingress.metrics import IngressMetrics
from services.ingress.normalise import Rejection, merge_fields, normalise
from services.ingress.signature import HEADER, Coverage, SignatureVerifier
from shared import tracing
from shared.contracts.commands import LEDGER_REPLY, WebhookKind
from shared.contracts.problems import PROBLEM_CONTENT_TYPE, problem
from shared.currencies import CurrencyTable
from shared.jsonwire import dumps_compact
from shared.kafka_rpc import RpcError, RpcReply

CORRELATION_HEADER = "x-correlation-id"
CORRELATION_HEADER_RAW: Final = CORRELATION_HEADER.encode()
PROBLEM_TYPE_RAW: Final = PROBLEM_CONTENT_TYPE.encode()


class LedgerLink(Protocol):
    """What the handler needs from the request-reply client (``shared.kafka_rpc``)."""

    async def request(
        self, *, key: str, value: bytes, timeout_s: float, correlation_id: str | None = None
    ) -> RpcReply: ...


@dataclass(frozen=True, slots=True)
class WebhookRoute:
    path: str
    kind: WebhookKind
    current: bool
    """True for a configured current-generation path that is not a legacy path."""


@dataclass(frozen=True, slots=True)
class HandlerConfig:
    max_body_bytes: int
    ledger_timeout_s: float
    retry_after_s: int
    currencies: CurrencyTable


class TooLarge(Exception):
    """The body is over the size limit."""


class ClientGone(Exception):
    """The client disconnected before its body ended."""


@dataclass(frozen=True, slots=True)
class Answer:
    """What a webhook is answered with: status, body and its media type, and any extra headers."""

    status: int
    body: bytes
    content_type: bytes
    headers: tuple[tuple[bytes, bytes], ...] = ()

    def raw_headers(self, correlation_id: str) -> list[tuple[bytes, bytes]]:
        """The ASGI response headers: type, length, the request's correlation id, the extras."""
        return [
            (b"content-type", self.content_type),
            (b"content-length", str(len(self.body)).encode()),
            (CORRELATION_HEADER_RAW, correlation_id.encode()),
            *self.headers,
        ]


class WebhookApp:
    """One webhook route as a bare ASGI app: the handler's answer, sent as two ASGI messages.

    A class rather than a closure, so that Starlette mounts it as an ASGI app too (the router's
    route for the path, which answers HEAD and 405 for the methods a webhook does not take).
    """

    __slots__ = ("_handler", "_route")

    def __init__(self, handler: WebhookHandler, route: WebhookRoute) -> None:
        self._handler = handler
        self._route = route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        correlation_id = secrets.token_hex(16)
        answer = await self._handler.handle(self._route, scope, receive, correlation_id)
        await send(
            {
                "type": "http.response.start",
                "status": answer.status,
                "headers": answer.raw_headers(correlation_id),
            }
        )
        await send({"type": "http.response.body", "body": answer.body})


class WebhookHandler:
    def __init__(
        self,
        config: HandlerConfig,
        verifier: SignatureVerifier,
        ledger: LedgerLink,
        metrics: IngressMetrics,
        clock: Callable[[], datetime],
    ) -> None:
        self._config = config
        self._verifier = verifier
        self._ledger = ledger
        self._metrics = metrics
        self._clock = clock
        self._log = structlog.get_logger("ingress")

    def asgi(self, route: WebhookRoute) -> WebhookApp:
        """The route's handler as an ASGI app (the hot path: no router, no middleware, no
        request or response objects)."""
        return WebhookApp(self, route)

    async def handle(
        self, route: WebhookRoute, scope: Scope, receive: Receive, correlation_id: str
    ) -> Answer:
        # Every line of this request names it (and its player once known: ``_answer``).
        structlog.contextvars.bind_contextvars(correlation_id=correlation_id)
        try:
            return await self._handle(route, scope, receive, correlation_id)
        finally:
            structlog.contextvars.unbind_contextvars("correlation_id", "user_id")

    async def _handle(
        self, route: WebhookRoute, scope: Scope, receive: Receive, correlation_id: str
    ) -> Answer:
        started = time.perf_counter()
        method: str = scope["method"]
        headers = Headers(scope=scope)
        span = tracing.http_span(method, route.path, headers)
        self._metrics.in_flight.inc()
        try:
            with tracing.current(span):
                answer, outcome = await self._answer(route, scope, receive, headers, correlation_id)
        except Exception:  # noqa: BLE001 - last resort: log the traceback, answer a problem
            self._log.exception("ingress.unexpected_error")
            answer = problem_answer("internal-error", "unexpected error", route.path)
            outcome = {"outcome": "unexpected-error"}
        finally:
            self._metrics.in_flight.dec()
        elapsed = time.perf_counter() - started
        status = answer.status
        span.set("hypeledger.outcome", str(outcome.get("outcome", "")))
        span.finish(status)
        self._metrics.observe(route.path, status, elapsed)
        self._log.info(
            "ingress.request",
            method=method,
            route=route.path,
            status=status,
            duration_ms=round(elapsed * 1000, 2),
            **outcome,
        )
        return answer

    async def _answer(
        self,
        route: WebhookRoute,
        scope: Scope,
        receive: Receive,
        headers: Headers,
        correlation_id: str,
    ) -> tuple[Answer, dict[str, object]]:
        instance = route.path
        try:
            body = await self._read_body(receive, headers.get("content-length"))
        except TooLarge:
            limit = self._config.max_body_bytes
            detail = f"the body is over the limit of {limit} bytes"
            return problem_answer("payload-too-large", detail, instance), {"outcome": "too-large"}
        except ClientGone:
            detail = "the client disconnected before the body ended"
            return problem_answer("malformed-request", detail, instance), {"outcome": "client-gone"}
        raw_query: bytes = scope.get("query_string", b"")
        coverage = self._verifier.verify(
            headers.get(HEADER), path=route.path, raw_query=raw_query, body=body
        )
        if coverage is None:
            detail = "the Hype-Hash header is missing or does not match"
            return problem_answer("invalid-signature", detail, instance), {"outcome": "signature"}
        try:
            fields = merge_fields(
                parse_qsl(raw_query.decode("latin-1"), keep_blank_values=True) if raw_query else (),
                body,
                query_signed=coverage is Coverage.QUERY_AND_BODY,
            )
            envelope = normalise(
                route.kind,
                fields,
                received_at=self._clock(),
                method=scope["method"],
                current_route=route.current,
                currencies=self._config.currencies,
            )
        except Rejection as rejection:
            answer = problem_answer(
                rejection.slug, rejection.detail, instance, field=rejection.field
            )
            return answer, {"outcome": rejection.slug, "field": rejection.field}
        except ValidationError as exc:  # the envelope refused a normalised value: a bad field
            detail = f"a field is not valid: {exc.errors()[0].get('loc')}"
            return problem_answer("invalid-field", detail, instance), {"outcome": "invalid-field"}
        structlog.contextvars.bind_contextvars(user_id=envelope.user_id)
        outcome: dict[str, object] = {
            "kind": envelope.kind.value,
            "generation": envelope.generation.value,
            "user_id": envelope.user_id,
            "provider_tx_id": envelope.provider_tx_id,
        }
        try:
            reply = await self._ledger.request(
                key=envelope.user_id,
                value=envelope.model_dump_json().encode(),
                timeout_s=self._config.ledger_timeout_s,
                correlation_id=correlation_id,
            )
        except RpcError as exc:
            self._metrics.timeouts.inc()
            answer = problem_answer(
                "ledger-unavailable",
                "the ledger did not answer in time; retrying is safe",
                instance,
                headers=((b"retry-after", str(self._config.retry_after_s).encode()),),
            )
            return answer, {**outcome, "outcome": "ledger-unavailable", "error": str(exc)}
        try:
            reply_body = LEDGER_REPLY.validate_json(reply.value)
        except ValidationError:
            self._log.error("ingress.bad_reply", reply=reply.value[:500].decode("utf-8", "replace"))
            answer = problem_answer(
                "internal-error", "the ledger's reply could not be read", instance
            )
            return answer, {**outcome, "outcome": "bad-reply"}
        answer = Answer(
            reply_body.status, reply_body.body.encode(), reply_body.content_type.encode()
        )
        return answer, {**outcome, "outcome": "answered", "replayed": reply_body.replayed}

    async def _read_body(self, receive: Receive, declared: str | None) -> bytes:
        """The body from the ASGI messages, refused as soon as it is over the limit."""
        limit = self._config.max_body_bytes
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise TooLarge
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientGone
            chunk: bytes = message.get("body", b"")
            if chunk:
                size += len(chunk)
                if size > limit:
                    raise TooLarge
                chunks.append(chunk)
            if not message.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def problem_answer(
    slug: str,
    detail: str,
    instance: str,
    field: str | None = None,
    headers: tuple[tuple[bytes, bytes], ...] = (),
) -> Answer:
    body = problem(slug, detail, instance=instance, field=field)
    return Answer(int(body["status"]), dumps_compact(body).encode(), PROBLEM_TYPE_RAW, headers)


def problem_response(
    slug: str,
    detail: str,
    instance: str,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """``problem_answer`` as a Starlette response (the router's 404 and 405)."""
    answer = problem_answer(slug, detail, instance)
    return Response(
        answer.body, status_code=answer.status, media_type=PROBLEM_CONTENT_TYPE, headers=headers
    )


def routes_from(
    legacy: Mapping[str, WebhookKind], current: Mapping[str, WebhookKind]
) -> list[WebhookRoute]:
    """Every webhook route: the legacy paths, plus each configured current path not among them.

    A configured path that is a legacy path of a different kind is a configuration error.
    """
    routes = [WebhookRoute(path, kind, current=False) for path, kind in legacy.items()]
    for path, kind in current.items():
        if path in legacy:
            if legacy[path] is not kind:
                raise ValueError(
                    f"{path} is the legacy {legacy[path].value} route, not {kind.value}"
                )
            continue
        routes.append(WebhookRoute(path, kind, current=True))
    return routes
