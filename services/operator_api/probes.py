"""``/healthz`` (alive), ``/readyz`` (database and ledger link usable) and ``/metrics``."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.operator_api.context import Context
from services.operator_api.http import json_response
from shared.logs import get_logger

log = get_logger(__name__)


def routes(ctx: Context) -> list[Route]:
    async def healthz(request: Request) -> Response:
        return json_response({"status": "ok"})

    async def readyz(request: Request) -> Response:
        checks: dict[str, bool] = {}
        try:
            await ctx.store.ping()
            checks["database"] = True
        except Exception:
            log.warning("operator_api.readyz.database_unreachable", exc_info=True)
            checks["database"] = False
        for name, check in ctx.ready_checks.items():
            checks[name] = await check()
        ready = all(checks.values())
        return json_response(
            {"status": "ready" if ready else "not-ready", "checks": checks},
            status=200 if ready else 503,
        )

    async def metrics(request: Request) -> Response:
        return Response(generate_latest(ctx.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]
