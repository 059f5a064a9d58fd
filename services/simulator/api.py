"""The simulator's HTTP surface: Hypetech's REST API, the admin routes under ``/_sim``, health."""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.simulator.simulator import ApiError, Simulator
from shared.hypetech.wire import dumps_rest
from shared.jsonwire import MalformedJson, loads_exact
from shared.metrics import service_registry

Handler = Callable[[Request], Awaitable[Response]]
MAX_PAGE_SIZE = 1000


def _json(body: Any, status: int = 200) -> Response:
    return Response(dumps_rest(body), status_code=status, media_type="application/json")


def _error(status: int, title: str, detail: str, shape: str) -> Response:
    if shape == "status":
        body: dict[str, Any] = {
            "type": f"https://player.api.hypetech.games/errors/{status}",
            "title": title,
            "status": status,
            "detail": detail,
        }
        return Response(dumps_rest(body), status_code=status, media_type="application/problem+json")
    body = {"title": title, "statusCode": status}
    if detail:
        body["detail"] = detail
    return _json(body, status)


def _page_args(request: Request) -> tuple[int, int]:
    try:
        number = int(request.query_params.get("pageNumber", "1"))
        size = int(request.query_params.get("pageSize", "20"))
    except ValueError:
        raise ApiError(400, "Bad Request", "pageNumber and pageSize must be integers") from None
    if number < 1 or not 1 <= size <= MAX_PAGE_SIZE:
        raise ApiError(400, "Bad Request", f"pageNumber >= 1 and 1 <= pageSize <= {MAX_PAGE_SIZE}")
    return number, size


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        parsed = loads_exact(raw) if raw else {}
    except MalformedJson as exc:
        raise ApiError(400, "Bad Request", str(exc)) from None
    if not isinstance(parsed, dict):
        raise ApiError(400, "Bad Request", "the body must be a JSON object")
    return parsed


class Api:
    """Endpoints over one ``Simulator``; ``routes()`` lists them."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.expected_authorization = f"Bearer {sim.settings.api_token.get_secret_value()}".encode()
        self.registry: CollectorRegistry = service_registry()
        self.requests_total = Counter(
            "hypetech_sim_requests",
            "REST requests answered",
            ["path", "status"],
            registry=self.registry,
        )
        self.rounds_gauge = Gauge(
            "hypetech_sim_rounds_played", "Rounds played", registry=self.registry
        )
        self.webhooks_gauge = Gauge(
            "hypetech_sim_webhooks_sent", "Webhook requests sent", registry=self.registry
        )

    def authorised(self, request: Request) -> bool:
        """The Bearer token, compared in constant time."""
        sent = request.headers.get("authorization", "").encode("latin-1")
        return hmac.compare_digest(sent, self.expected_authorization)

    def rest(self, handler: Handler, name: str, *, faulty: bool = True) -> Handler:
        """Bearer auth, Hypetech's error bodies and, unless ``faulty`` is off, injected faults."""
        sim = self.sim

        async def endpoint(request: Request) -> Response:
            shape = sim.http_faults.error_shape
            try:
                delay = sim.http_faults.take_delay() if faulty else 0.0
                if delay > 0:
                    await asyncio.sleep(delay)
                failure = sim.http_faults.take_failure() if faulty else None
                if failure is not None:
                    response = _error(failure, "Service Unavailable", "Injected failure.", shape)
                elif not self.authorised(request):
                    response = _error(
                        401, "Unauthorized", "You don't have access to this game.", shape
                    )
                else:
                    response = await handler(request)
            except ApiError as exc:
                response = _error(exc.status, exc.title, exc.detail, shape)
            self.requests_total.labels(name, str(response.status_code)).inc()
            return response

        return endpoint

    async def request_access(self, request: Request) -> Response:
        return _json(self.sim.create_session(await _body(request)))

    async def games(self, request: Request) -> Response:
        return _json(self.sim.games())

    async def transactions(self, request: Request) -> Response:
        number, size = _page_args(request)
        return _json(self.sim.session_transactions(request.path_params["session_id"], number, size))

    async def active(self, request: Request) -> Response:
        number, size = _page_args(request)
        return _json(self.sim.active_sessions(number, size))

    async def free_bets(self, request: Request) -> Response:
        return _json(self.sim.redeem_free_bet(await _body(request)), 201)

    async def truth(self, request: Request) -> Response:
        return _json(self.sim.export())

    async def fairness(self, request: Request) -> Response:
        return _json(self.sim.fairness())

    async def status(self, request: Request) -> Response:
        return _json(self.sim.status())

    async def faults(self, request: Request) -> Response:
        body = await _body(request)
        f = self.sim.http_faults
        f.fail_next = int(body.get("fail_next", f.fail_next))
        f.fail_status = int(body.get("fail_status", f.fail_status))
        f.delay_next = int(body.get("delay_next", f.delay_next))
        f.delay_s = float(Decimal(str(body.get("delay_s", f.delay_s))))
        shape = str(body.get("error_shape", f.error_shape))
        if shape not in ("status", "statusCode"):
            raise ApiError(400, "Bad Request", "error_shape is status or statusCode")
        f.error_shape = shape
        return _json(
            {"fail_next": f.fail_next, "delay_next": f.delay_next, "error_shape": f.error_shape}
        )

    async def play(self, request: Request) -> Response:
        body = await _body(request)
        rounds = body.get("rounds", 1)
        if not isinstance(rounds, int) or isinstance(rounds, bool) or not 1 <= rounds <= 1_000_000:
            raise ApiError(400, "Bad Request", "rounds must be an integer in 1..1000000")
        if body.get("wait", True):
            return _json(await self.sim.play(rounds))
        if not self.sim.play_in_background(rounds):
            raise ApiError(409, "Conflict", "Rounds are already being played.")
        return _json(self.sim.status(), 202)

    async def game_url(self, request: Request) -> Response:
        try:
            return _json(self.sim.open_game_url(request.path_params["token"]))
        except ApiError as exc:
            return _error(exc.status, exc.title, exc.detail, "statusCode")

    async def healthz(self, request: Request) -> Response:
        return _json({"status": "ok"})

    async def metrics(self, request: Request) -> Response:
        self.rounds_gauge.set(self.sim.runner.outcomes.rounds)
        self.webhooks_gauge.set(self.sim.runner.sender.stats.requests)
        return Response(generate_latest(self.registry), media_type="text/plain; version=0.0.4")

    def routes(self) -> list[Route]:
        rest = self.rest
        return [
            Route(
                "/games/request-access",
                rest(self.request_access, "request-access"),
                methods=["POST"],
            ),
            Route("/games/free-bets", rest(self.free_bets, "free-bets"), methods=["POST"]),
            Route("/games", rest(self.games, "games"), methods=["GET"]),
            Route("/sessions/active", rest(self.active, "active-sessions"), methods=["GET"]),
            Route(
                "/sessions/{session_id}/transactions",
                rest(self.transactions, "transactions"),
                methods=["GET"],
            ),
            Route("/_sim/truth", rest(self.truth, "truth", faulty=False), methods=["GET"]),
            Route("/_sim/fairness", rest(self.fairness, "fairness", faulty=False), methods=["GET"]),
            Route("/_sim/status", rest(self.status, "status", faulty=False), methods=["GET"]),
            Route("/_sim/play", rest(self.play, "play", faulty=False), methods=["POST"]),
            Route("/_sim/faults", rest(self.faults, "faults", faulty=False), methods=["POST"]),
            Route("/healthz", self.healthz, methods=["GET"]),
            Route("/readyz", self.healthz, methods=["GET"]),
            Route("/metrics", self.metrics, methods=["GET"]),
            Route("/{game}/session/{token}", self.game_url, methods=["GET"]),
        ]
