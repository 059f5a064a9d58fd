"""Reconciliation findings: list them, show one with its history, change its status."""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.operator_api import cursor
from services.operator_api.context import Context
from services.operator_api.http import ProblemError, json_response, read_model
from services.operator_api.models import ChangeFindingStatus, FindingStatus
from services.operator_api.pages import limit_of, optional_id, page, position_of
from services.operator_api.ports import FindingFilter
from shared import identifiers

CLASS_PATTERN = re.compile(r"^[a-z_]{1,64}$")


def finding_filter(request: Request) -> FindingFilter:
    params = request.query_params
    status = params.get("status") or None
    if status is not None and status not in {s.value for s in FindingStatus}:
        raise ProblemError(
            "invalid-field", "status must be open, resolved or ignored", field="status"
        )
    finding_class = params.get("class") or None
    if finding_class is not None and not CLASS_PATTERN.match(finding_class):
        raise ProblemError("invalid-field", "class must be a finding class name", field="class")
    return FindingFilter(
        status=status,
        finding_class=finding_class,
        session_id=optional_id(request, "session_id"),
        user_id=optional_id(request, "user_id", identifiers.user_id),
    )


def finding_id_of(request: Request) -> int:
    text = str(request.path_params["finding_id"])
    if not (text.isascii() and text.isdigit()) or len(text) > 18:
        raise ProblemError("not-found", f"no finding {text!r}")
    return int(text)


def routes(ctx: Context) -> list[Route]:
    async def list_findings(request: Request) -> Response:
        where = finding_filter(request)
        limit = limit_of(request)
        fingerprint = cursor.filters_fingerprint({"list": "findings", **where.as_dict()})
        after = position_of(request, fingerprint)
        rows = await ctx.store.findings(where, after, limit + 1)
        return json_response(page(rows, limit, fingerprint))

    async def show_finding(request: Request) -> Response:
        finding_id = finding_id_of(request)
        found = await ctx.store.finding(finding_id)
        if found is None:
            raise ProblemError("not-found", f"no finding {finding_id}")
        return json_response(found)

    async def change_status(request: Request) -> Response:
        finding_id = finding_id_of(request)
        body, _ = await read_model(request, ChangeFindingStatus)
        changed = await ctx.store.change_finding(
            finding_id, body.status.value, body.changed_by, body.note
        )
        if changed is None:
            raise ProblemError("not-found", f"no finding {finding_id}")
        return json_response(changed)

    return [
        Route("/findings", list_findings, methods=["GET"]),
        Route("/findings/{finding_id}", show_finding, methods=["GET"]),
        Route("/findings/{finding_id}/status", change_status, methods=["POST"]),
    ]
