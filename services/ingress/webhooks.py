"""One handler for every webhook route: verify, read, normalise, ask the ledger, answer.

Order per request: size limit (413) and ``Hype-Hash`` (401) before anything is parsed, then the
body and fields (400 ``malformed-request`` / ``invalid-field`` / ``invalid-amount`` /
``unknown-currency``), then the envelope is published keyed by ``user_id`` and the ledger's reply
is answered byte for byte (status, body, content type). No reply within the timeout: 503
``ledger-unavailable`` with ``Retry-After`` (safe to retry: the ledger stores every decision).
Nothing is published for a request rejected here.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import structlog
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

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

    def endpoint(self, route: WebhookRoute) -> Callable[[Request], Awaitable[Response]]:
        """The route's handler as a Starlette endpoint."""

        async def handle(request: Request) -> Response:
            return await self.handle(route, request)

        return handle

    def asgi(self, route: WebhookRoute) -> ASGIApp:
        """The route's handler as a bare ASGI app (the hot path, without router or middleware)."""

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            response = await self.handle(route, Request(scope, receive))
            await response(scope, receive, send)

        return app

    async def handle(self, route: WebhookRoute, request: Request) -> Response:
        correlation_id = uuid.uuid4().hex
        # Every line of this request names it (and its player once known: ``_answer``).
        structlog.contextvars.bind_contextvars(correlation_id=correlation_id)
        try:
            return await self._handle(route, request, correlation_id)
        finally:
            structlog.contextvars.unbind_contextvars("correlation_id", "user_id")

    async def _handle(self, route: WebhookRoute, request: Request, correlation_id: str) -> Response:
        started = time.perf_counter()
        span = tracing.http_span(request.method, route.path, request.headers)
        self._metrics.in_flight.inc()
        try:
            with tracing.current(span):
                response, outcome = await self._answer(route, request, correlation_id)
        except Exception:  # noqa: BLE001 - last resort: log the traceback, answer a problem
            self._log.exception("ingress.unexpected_error")
            response = problem_response("internal-error", "unexpected error", route.path)
            outcome = {"outcome": "unexpected-error"}
        finally:
            self._metrics.in_flight.dec()
        response.headers[CORRELATION_HEADER] = correlation_id
        elapsed = time.perf_counter() - started
        status = response.status_code
        span.set("hypeledger.outcome", str(outcome.get("outcome", "")))
        span.finish(status)
        self._metrics.observe(route.path, status, elapsed)
        self._log.info(
            "ingress.request",
            method=request.method,
            route=route.path,
            status=status,
            duration_ms=round(elapsed * 1000, 2),
            **outcome,
        )
        return response

    async def _answer(
        self, route: WebhookRoute, request: Request, correlation_id: str
    ) -> tuple[Response, dict[str, object]]:
        instance = route.path
        try:
            body = await self._read_body(request)
        except TooLarge:
            limit = self._config.max_body_bytes
            detail = f"the body is over the limit of {limit} bytes"
            return problem_response("payload-too-large", detail, instance), {"outcome": "too-large"}
        raw_query: bytes = request.scope.get("query_string", b"")
        coverage = self._verifier.verify(
            request.headers.get(HEADER), path=route.path, raw_query=raw_query, body=body
        )
        if coverage is None:
            detail = "the Hype-Hash header is missing or does not match"
            return problem_response("invalid-signature", detail, instance), {"outcome": "signature"}
        try:
            fields = merge_fields(
                request.query_params.multi_items(),
                body,
                query_signed=coverage is Coverage.QUERY_AND_BODY,
            )
            envelope = normalise(
                route.kind,
                fields,
                received_at=self._clock(),
                method=request.method,
                current_route=route.current,
                currencies=self._config.currencies,
            )
        except Rejection as rejection:
            response = problem_response(
                rejection.slug, rejection.detail, instance, field=rejection.field
            )
            return response, {"outcome": rejection.slug, "field": rejection.field}
        except ValidationError as exc:  # the envelope refused a normalised value: a bad field
            detail = f"a field is not valid: {exc.errors()[0].get('loc')}"
            return problem_response("invalid-field", detail, instance), {"outcome": "invalid-field"}
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
            response = problem_response(
                "ledger-unavailable",
                "the ledger did not answer in time; retrying is safe",
                instance,
            )
            response.headers["retry-after"] = str(self._config.retry_after_s)
            return response, {**outcome, "outcome": "ledger-unavailable", "error": str(exc)}
        try:
            answer = LEDGER_REPLY.validate_json(reply.value)
        except ValidationError:
            self._log.error("ingress.bad_reply", reply=reply.value[:500].decode("utf-8", "replace"))
            response = problem_response(
                "internal-error", "the ledger's reply could not be read", instance
            )
            return response, {**outcome, "outcome": "bad-reply"}
        response = Response(
            answer.body.encode(), status_code=answer.status, media_type=answer.content_type
        )
        return response, {**outcome, "outcome": "answered", "replayed": answer.replayed}

    async def _read_body(self, request: Request) -> bytes:
        limit = self._config.max_body_bytes
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise TooLarge
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise TooLarge
            chunks.append(chunk)
        return b"".join(chunks)


def problem_response(
    slug: str,
    detail: str,
    instance: str,
    field: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    body = problem(slug, detail, instance=instance, field=field)
    return Response(
        dumps_compact(body).encode(),
        status_code=int(body["status"]),
        media_type=PROBLEM_CONTENT_TYPE,
        headers=headers,
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
