"""Daily reports: per day in the operator's time zone, game and currency, what was staked, won
and refunded, the free bets apart, how many bets and players, and the gross gaming revenue.

Every money figure is a sum of the day's player postings (``transactions.created_at`` inside the
day): ``stakes`` of bets, ``wins`` of wins paid against the provider's clearing account,
``free_bet_wins`` of wins paid from the bonus account, ``refunds`` of rollbacks. ``ggr`` is
``stakes - refunds - wins``: cash only, free bets shown apart. ``free_bet_stakes`` (no money moves
on a free bet), ``bets`` and ``players`` come from the bets placed that day. A transaction's game
is its session's (``sessions.game``, set when the game was launched), a free bet's that of its
grant; a row whose session is unknown is under ``unknown``.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.operator_api.context import Context
from services.operator_api.http import ProblemError, json_response
from services.operator_api.ports import DayTotals
from shared.currencies import CurrencyTable
from shared.days import day_bounds
from shared.money import format_minor

UNKNOWN_GAME = "unknown"
MONEY_FIELDS = ("stakes", "wins", "refunds", "free_bet_stakes", "free_bet_wins", "ggr")


def report_view(
    day: date,
    time_zone: str,
    rows: list[DayTotals],
    currencies: CurrencyTable,
) -> dict[str, Any]:
    start, end = day_bounds(day, time_zone)
    items = []
    for row in sorted(rows, key=lambda r: (r.game, r.currency)):
        item: dict[str, Any] = {"game": row.game, "currency": row.currency}
        for name in MONEY_FIELDS:
            item[name] = format_minor(getattr(row, name), row.currency, currencies)
        item["bets"] = row.bets
        item["players"] = row.players
        items.append(item)
    return {
        "date": day.isoformat(),
        "time_zone": time_zone,
        "from": start.isoformat(),
        "to": end.isoformat(),
        "items": items,
    }


def date_of(request: Request) -> date:
    text = request.query_params.get("date")
    if not text:
        raise ProblemError("invalid-field", "date is required (YYYY-MM-DD)", field="date")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ProblemError(
            "invalid-field", "date must be a calendar date, YYYY-MM-DD", field="date"
        ) from None


def routes(ctx: Context) -> list[Route]:
    async def daily(request: Request) -> Response:
        day = date_of(request)
        time_zone = ctx.settings.ledger_time_zone
        start, end = day_bounds(day, time_zone)
        rows = await ctx.store.daily_totals(start, end)
        return json_response(report_view(day, time_zone, list(rows), ctx.currencies))

    return [Route("/reports/daily", daily, methods=["GET"])]
