"""Composition root: ``create_app(settings)`` wires the pool, the ledger link and the provider."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import cast

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.operator_api import (
    accounts,
    findings,
    free_bets,
    history,
    launch,
    openapi,
    probes,
    protection,
    reports,
)
from services.operator_api.auth import BearerAuth
from services.operator_api.context import Context
from services.operator_api.database import PostgresStore
from services.operator_api.http import (
    ProblemError,
    json_response,
    problem_from_error,
    problem_response,
)
from services.operator_api.ledger_link import KafkaLedger
from services.operator_api.metrics import ApiMetrics, MetricsMiddleware
from services.operator_api.ports import GameProvider, Ledger, Store
from services.operator_api.provider import HypetechProvider
from services.operator_api.settings import OperatorApiSettings
from shared.currencies import CurrencyTable
from shared.db.pool import create_pool
from shared.http_server import HttpServerConfig, run, server_config
from shared.hypetech import HypetechClient
from shared.kafka_rpc import ledger_client
from shared.logs import configure_logging, get_logger
from shared.metrics_access import MetricsTokenGuard
from shared.tracing import TracingMiddleware, configure_tracing

log = get_logger(__name__)


@dataclass(frozen=True)
class Dependencies:
    """Ready-made seams (tests); whatever is ``None`` is built from the settings at startup."""

    store: Store | None = None
    ledger: Ledger | None = None
    provider: GameProvider | None = None


class _NotStarted:
    """Holds the place of a seam the lifespan builds; using it before startup is a loud error."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str) -> object:
        raise RuntimeError(f"the {self._name} is used before the application started")


class ProblemGuard:
    """Answers any unanticipated error with a 500 problem (logged with its traceback)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking)
        except Exception:
            log.exception("operator_api.unexpected_error", path=scope["path"])
            if started:
                raise
            response = problem_response(
                "internal-error", "an unexpected error occurred", instance=scope["path"]
            )
            await response(scope, receive, send)


async def _problem(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, ProblemError):  # pragma: no cover - registered for ProblemError only
        raise exc
    return problem_from_error(exc, request.url.path)


async def _http_problem(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, HTTPException):  # pragma: no cover - registered for HTTPException only
        raise exc
    slug = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "malformed-request")
    return problem_response(
        slug,
        str(exc.detail),
        instance=request.url.path,
        status=exc.status_code,
        headers=exc.headers,  # a 405 carries Allow (RFC 9110)
    )


def create_app(
    settings: OperatorApiSettings, dependencies: Dependencies | None = None
) -> Starlette:
    deps = dependencies or Dependencies()
    currencies = CurrencyTable(settings.extra_currencies)
    metrics = ApiMetrics()
    ctx = Context(
        settings=settings,
        store=deps.store or cast(Store, _NotStarted("store")),
        ledger=deps.ledger or cast(Ledger, _NotStarted("ledger")),
        provider=deps.provider or cast(GameProvider, _NotStarted("provider")),
        currencies=currencies,
        metrics=metrics,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            if deps.store is None:
                pool = await create_pool(settings, application_name="hypeledger-operator-api")
                stack.push_async_callback(pool.close)
                ctx.store = PostgresStore(pool, currencies)
            if deps.ledger is None:
                rpc = await ledger_client(
                    stack,
                    settings,
                    instance_id=settings.instance_id,
                    client_id="hypeledger-operator-api",
                )
                ctx.ledger = KafkaLedger(rpc, settings.ledger_timeout_s)

                async def ledger_link() -> bool:
                    return rpc.reply_consumer_assigned and await rpc.broker_reachable()

                ctx.ready_checks["ledger_link"] = ledger_link
            if deps.provider is None:
                client = HypetechClient.from_settings(settings)
                stack.push_async_callback(client.aclose)
                ctx.provider = HypetechProvider(client)
            log.info("operator_api.started", host=settings.host, port=settings.port)
            yield
        log.info("operator_api.stopped")

    routes = [
        *probes.routes(ctx),
        *accounts.routes(ctx),
        *history.routes(ctx),
        *launch.routes(ctx),
        *free_bets.routes(ctx),
        *findings.routes(ctx),
        *protection.routes(ctx),
        *reports.routes(ctx),
    ]
    document = openapi.document()

    async def openapi_json(request: Request) -> Response:
        return json_response(document)

    routes.append(Route("/openapi.json", openapi_json, methods=["GET"]))
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(TracingMiddleware),
            Middleware(MetricsMiddleware, metrics=metrics),
            Middleware(MetricsTokenGuard, token=settings.metrics_token),
            Middleware(BearerAuth, tokens=settings.operator_tokens),
            Middleware(ProblemGuard),
        ],
        exception_handlers={ProblemError: _problem, HTTPException: _http_problem},
        lifespan=lifespan,
    )
    app.state.context = ctx
    return app


def server_of(settings: OperatorApiSettings) -> HttpServerConfig:
    """uvicorn's configuration of the API with the bounds of ``settings`` (``shared.http_server``)."""
    return server_config(
        create_app(settings),
        settings,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
    )


def serve(settings: OperatorApiSettings) -> None:
    """Run the API with uvicorn on the configured host and port (``hypeledger operator-api``)."""
    configure_logging(settings.log_level, settings.log_format)
    configure_tracing("hypeledger-operator-api")
    run(server_of(settings))
