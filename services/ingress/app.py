"""The ingress's composition root: ``create_app(settings)`` wires verifier, ledger and routes."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from services.ingress.metrics import IngressMetrics
from services.ingress.openapi import build_openapi
from services.ingress.settings import IngressSettings
from services.ingress.signature import SignatureVerifier
from services.ingress.webhooks import (
    HandlerConfig,
    LedgerLink,
    WebhookHandler,
    WebhookRoute,
    problem_response,
    routes_from,
)
from shared.contracts.commands import WebhookKind
from shared.contracts.topics import COMMANDS
from shared.currencies import CurrencyTable
from shared.http_server import HttpServerConfig, server_config
from shared.kafka_rpc import KafkaRpcClient, RpcStats
from shared.logs import configure_logging, get_logger
from shared.metrics_access import METRICS_PATHS, MetricsTokenGuard
from shared.probes import probe_routes
from shared.runtime import collect_garbage_less_often
from shared.startup import Phases
from shared.tracing import configure_tracing

log = get_logger("hypeledger.ingress")

LEGACY_PREFIX = "/webhooks/hypetech/"
LEGACY_ROUTES = {
    LEGACY_PREFIX + "register": WebhookKind.BET,
    LEGACY_PREFIX + "rewards": WebhookKind.WIN,
    LEGACY_PREFIX + "loses": WebhookKind.LOSE,
    LEGACY_PREFIX + "rollback": WebhookKind.ROLLBACK,
    LEGACY_PREFIX + "balance": WebhookKind.BALANCE,
}


class ManagedLedgerLink(LedgerLink, Protocol):
    """The request-reply client as the app runs it: started and stopped with the app."""

    stats: RpcStats

    @property
    def reply_consumer_assigned(self) -> bool: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def broker_reachable(self, timeout_s: float = 1.0) -> bool: ...


def webhook_routes(settings: IngressSettings) -> list[WebhookRoute]:
    current = {
        settings.path_bet: WebhookKind.BET,
        settings.path_win: WebhookKind.WIN,
        settings.path_rollback: WebhookKind.ROLLBACK,
        settings.path_balance: WebhookKind.BALANCE,
    }
    if len(current) < 4:
        raise ValueError("the configured webhook paths must differ from each other")
    return routes_from(LEGACY_ROUTES, current)


def app_from_environment() -> ASGIApp:
    """Factory for ``uvicorn --factory`` and worker processes: settings and logging from the
    environment; each worker gets its own reply topic (the instance id gets the pid appended)."""
    settings = IngressSettings()
    if settings.instance_id:
        settings = settings.model_copy(
            update={"instance_id": f"{settings.instance_id}-{os.getpid()}"}
        )
    configure_logging(settings.log_level, settings.log_format)
    configure_tracing("hypeledger-ingress")
    application = create_app(settings)
    collect_garbage_less_often()
    return application


def server_of(
    settings: IngressSettings,
    *,
    host: str | None = None,
    port: int | None = None,
    workers: int = 1,
) -> HttpServerConfig:
    """uvicorn's configuration of the ingress: ``workers`` processes building their own app
    from the environment, uvloop, and the bounds of ``settings`` (``shared.http_server``)."""
    return server_config(
        "services.ingress.app:app_from_environment",
        settings,
        host=host or settings.host,
        port=port or settings.port,
        factory=True,
        workers=workers,
        loop="uvloop",
        lifespan="on",
        access_log=False,
        log_level="warning",
        timeout_graceful_shutdown=10,
        # Nothing here reads the client's address or scheme (the signed URL comes from
        # configuration), so X-Forwarded-* headers are not worth rewriting each request for.
        proxy_headers=False,
    )


def create_app(
    settings: IngressSettings,
    *,
    ledger: ManagedLedgerLink | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> ASGIApp:
    """Build the ingress. ``ledger`` defaults to a ``KafkaRpcClient`` on ``wallet.commands.v1``."""
    link: ManagedLedgerLink = ledger or KafkaRpcClient(
        settings, request_topic=COMMANDS, instance_id=settings.instance_id, client_id="ingress"
    )
    metrics = IngressMetrics()
    metrics.count_link_replies(
        lambda: link.stats.unmatched_replies, lambda: link.stats.forged_replies
    )
    routes = webhook_routes(settings)
    verifier = SignatureVerifier(
        (key.get_secret_value().encode() for key in settings.hypetech_api_keys),
        settings.public_base_url,
    )
    config = HandlerConfig(
        max_body_bytes=settings.max_body_bytes,
        ledger_timeout_s=settings.ledger_timeout_s,
        retry_after_s=settings.retry_after_s,
        currencies=CurrencyTable(settings.extra_currencies),
    )
    handler = WebhookHandler(config, verifier, link, metrics, clock)
    openapi = build_openapi(routes, settings.public_base_url)

    async def ready() -> dict[str, bool]:
        assigned = link.reply_consumer_assigned
        reachable = assigned and await link.broker_reachable()
        return {"reply_consumer_assigned": assigned, "broker_reachable": reachable}

    async def openapi_endpoint(_: Request) -> Response:
        return JSONResponse(openapi)

    async def not_found(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 404
        slug = "method-not-allowed" if status == 405 else "not-found"
        headers = exc.headers if isinstance(exc, HTTPException) else None  # 405: Allow
        return problem_response(
            slug, f"{request.method} {request.url.path}", request.url.path, headers=headers
        )

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[dict[str, Any]]:
        phases = Phases()  # its first phase: the process's start, imports and app until now
        await link.start()
        phases.phase("link_s")
        log.info("ingress.started", **phases.durations)
        try:
            yield {}
        finally:
            await link.stop()

    hot_paths = {route.path: handler.asgi(route) for route in routes}
    probes_and_routes = Starlette(
        routes=[
            *(Route(path, webhook, methods=["GET", "POST"]) for path, webhook in hot_paths.items()),
            *probe_routes(metrics.registry, ready),
            Route("/openapi.json", openapi_endpoint, methods=["GET"]),
        ],
        middleware=[
            Middleware(
                MetricsTokenGuard,
                token=settings.metrics_token,
                paths=METRICS_PATHS | {"/openapi.json"},
            )
        ],
        exception_handlers={404: not_found, 405: not_found},
        lifespan=lifespan,
    )

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        """Webhooks go straight to their handler; everything else through Starlette."""
        if scope["type"] == "http" and scope["method"] in ("GET", "POST"):
            webhook = hot_paths.get(scope["path"])
            if webhook is not None:
                await webhook(scope, receive, send)
                return
        await probes_and_routes(scope, receive, send)

    return app
