"""A player's history: transactions and postings, newest first, keyset-paged, filterable."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.operator_api import cursor
from services.operator_api.accounts import existing_account, path_account
from services.operator_api.context import Context
from services.operator_api.http import ProblemError, json_response
from services.operator_api.pages import limit_of, optional_id, page, position_of, time_of
from services.operator_api.ports import HistoryFilter, Row, Store

#: What a kind filter looks like (``bet``, ``win``, ``rollback``, ``deposit``, ``withdraw``...).
KIND_PATTERN = re.compile(r"^[a-z_]{1,32}$")


Fetch = Callable[
    [Store, str, str, HistoryFilter, cursor.Position | None, int], Awaitable[Sequence[Row]]
]


def history_filter(request: Request) -> HistoryFilter:
    kind = request.query_params.get("kind") or None
    if kind is not None and not KIND_PATTERN.match(kind):
        raise ProblemError("invalid-field", "kind must be a kind name such as bet", field="kind")
    where = HistoryFilter(
        kind=kind,
        round_id=optional_id(request, "round_id"),
        session_token=optional_id(request, "session_token"),
        since=time_of(request, "since"),
        until=time_of(request, "until"),
    )
    if where.since is not None and where.until is not None and where.since >= where.until:
        raise ProblemError("invalid-field", "since must be before until", field="since")
    return where


def routes(ctx: Context) -> list[Route]:
    def listing(name: str, fetch: Fetch) -> Route:
        async def endpoint(request: Request) -> Response:
            user_id, currency = path_account(ctx, request)
            where = history_filter(request)
            limit = limit_of(request)
            fingerprint = cursor.filters_fingerprint(
                {"user_id": user_id, "currency": currency, "list": name, **where.as_dict()}
            )
            after = position_of(request, fingerprint)
            await existing_account(ctx, user_id, currency)
            rows = await fetch(ctx.store, user_id, currency, where, after, limit + 1)
            return json_response(page(rows, limit, fingerprint))

        endpoint.__name__ = name
        return Route(f"/accounts/{{user_id}}/{{currency}}/{name}", endpoint, methods=["GET"])

    return [
        listing("transactions", lambda store, *args: store.transactions(*args)),
        listing("postings", lambda store, *args: store.postings(*args)),
    ]
