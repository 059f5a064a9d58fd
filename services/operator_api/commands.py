"""Account changes, deposits and withdrawals: operator commands to the ledger, and its reply.

The API never writes money: it checks the request, claims the caller's idempotency key, publishes
an ``OperatorCommand`` keyed by the player and passes the ledger's stored reply (status and body)
through unchanged, so a retry is answered exactly as the first request was.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import Response

from services.operator_api import idempotency
from services.operator_api.context import Context
from services.operator_api.http import ProblemError, checked, problem_response
from services.operator_api.ports import LedgerUnavailable
from shared import identifiers
from shared.contracts.commands import OperatorCommand, OperatorKind
from shared.contracts.protection import LimitKind, LimitPeriod
from shared.currencies import UnknownCurrency
from shared.logs import get_logger
from shared.money import InvalidAmount, minor_to_decimal, parse_minor

log = get_logger(__name__)


def checked_currency(ctx: Context, currency: str) -> str:
    code = currency.strip().upper()
    if code not in ctx.currencies:
        raise ProblemError("unknown-currency", f"{currency!r} is not a configured currency")
    return code


def positive_amount(ctx: Context, value: Decimal, currency: str, field: str = "amount") -> int:
    """``value`` in minor units of ``currency``; must be > 0 and no finer than the currency."""
    try:
        minor = parse_minor(value, currency, ctx.currencies).minor
    except UnknownCurrency:
        raise ProblemError(
            "unknown-currency", f"{currency!r} is not a configured currency"
        ) from None
    except InvalidAmount as exc:
        raise ProblemError("invalid-amount", f"{field}: {exc}", field=field) from None
    if minor <= 0:
        raise ProblemError("invalid-amount", f"{field} must be greater than zero", field=field)
    return minor


async def claim_key(ctx: Context, request: Request, body: dict[str, Any], *, required: bool) -> str:
    """The caller's idempotency key, claimed for this request (fresh when optional and absent)."""
    key = request.headers.get(idempotency.HEADER)
    if key is None or not key.strip():
        if required:
            raise ProblemError(
                "idempotency-key-required",
                f"send an {idempotency.HEADER} header: a unique key per intended operation",
            )
        return f"auto-{uuid.uuid4()}"
    key = checked(identifiers.idempotency_key, key, idempotency.HEADER)
    wanted = idempotency.fingerprint(request.method, request.url.path, body)
    on_record = await ctx.store.claim_idempotency_key(key, wanted)
    if on_record != wanted:
        raise ProblemError(
            "duplicate-transaction-mismatch",
            f"{idempotency.HEADER} {key!r} was already used for a different request",
            idempotency_key=key,
        )
    return key


class Asked(Protocol):
    """Who asked for a change and why: every change's body carries them, kept with the decision."""

    @property
    def reason(self) -> str | None: ...

    @property
    def requested_by(self) -> str | None: ...


async def send_command(
    ctx: Context,
    request: Request,
    kind: OperatorKind,
    key: str,
    account: tuple[str, str],
    *,
    asked: Asked | None = None,
    amount_minor: int | None = None,
    limit: LimitKind | None = None,
    period: LimitPeriod | None = None,
    until: datetime | None = None,
) -> Response:
    """Send the operator command ``kind`` on ``account`` (user id, currency) under the
    idempotency ``key`` to the ledger, and answer with its reply (503 when it does not answer)."""
    user_id, currency = account
    command = OperatorCommand(
        kind=kind,
        idempotency_key=key,
        user_id=user_id,
        currency=currency,
        amount=None
        if amount_minor is None
        else minor_to_decimal(amount_minor, currency, ctx.currencies),
        reason=None if asked is None else asked.reason,
        requested_by=None if asked is None else asked.requested_by,
        requested_at=ctx.clock(),
        limit=limit,
        period=period,
        until=until,
    )
    try:
        reply = await ctx.ledger.send(command)
    except LedgerUnavailable as exc:
        ctx.metrics.ledger_timeouts.labels(kind.value).inc()
        log.warning("operator_api.ledger.unavailable", kind=kind.value, user_id=user_id, key=key)
        retry_after = "1"
        return problem_response(
            "ledger-unavailable",
            f"the ledger did not answer: {exc}; a retry with the same {idempotency.HEADER} is safe",
            instance=request.url.path,
            headers={"Retry-After": retry_after, idempotency.HEADER: key},
        )
    ctx.metrics.ledger_replies.labels(kind.value, str(reply.status)).inc()
    log.info(
        "operator_api.command.answered",
        kind=kind.value,
        user_id=user_id,
        key=key,
        status=reply.status,
        replayed=reply.replayed,
    )
    headers = {idempotency.HEADER: key}
    if reply.replayed:
        headers["Idempotent-Replayed"] = "true"
    return Response(
        reply.body, status_code=reply.status, media_type=reply.content_type, headers=headers
    )
