"""``/healthz`` (alive), ``/readyz`` (database and ledger link usable) and ``/metrics``."""

from __future__ import annotations

from starlette.routing import Route

from services.operator_api.context import Context
from shared.logs import get_logger
from shared.probes import probe_routes

log = get_logger(__name__)


def routes(ctx: Context) -> list[Route]:
    async def ready() -> dict[str, bool]:
        checks: dict[str, bool] = {}
        try:
            await ctx.store.ping()
            checks["database"] = True
        except Exception:
            log.warning("operator_api.readyz.database_unreachable", exc_info=True)
            checks["database"] = False
        for name, check in ctx.ready_checks.items():
            checks[name] = await check()
        return checks

    return probe_routes(ctx.metrics.registry, ready)
