"""Player protection inside a decision: exclusions and limits checked, period totals moved.

The rules themselves (which limit is in force, what a period holds) are ``protection``'s; this
module applies them to one command and raises the refusal, with its event, when one says no. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.ledger import protection
from services.ledger.model import OutboxEvent, command_time
from services.ledger.row import Row
from shared.contracts.protection import (
    LimitKind,
    LimitPeriod,
    ProtectionEventKind,
)

PeriodTotals = dict[LimitPeriod, protection.Totals]


@dataclass(frozen=True, slots=True)
class TotalsAfter:
    """The period totals to store after a decision, and an event per threshold it crossed."""

    totals: tuple[protection.Totals, ...] = ()
    alerts: tuple[OutboxEvent, ...] = ()


def refuse_if_excluded(row: Row, amount: int | None = None) -> None:
    exclusion = row.state.exclusion(row.user_id, row.currency)
    if exclusion is None or not exclusion.in_force(command_time(row.command)):
        return
    until = exclusion.until
    detail = f"user {row.user_id} is self-excluded " + (
        "indefinitely" if until is None else f"until {until.isoformat()}"
    )
    event = row.texts.protection_event(
        "refused",
        ProtectionEventKind.REFUSED,
        exclusion=exclusion.kind.value,
        until=until,
        problem="player-self-excluded",
        amount=None if amount is None else row.fmt(amount),
    )
    raise row.refuse(
        "player-self-excluded",
        detail,
        effects=(event,),
        refused_by=exclusion.kind.value,
        exclusion=exclusion.kind.value,
        until=None if until is None else until.isoformat(),
    )


def period_totals(row: Row) -> PeriodTotals:
    user_id, currency, stored = row.user_id, row.currency, row.state.stored_totals
    return protection.current_totals(
        lambda period: stored(user_id, currency, period),
        command_time(row.command),
        row.policy.time_zone,
    )


def refuse_if_breached(
    row: Row, kinds: tuple[LimitKind, ...], amount: int, totals: PeriodTotals
) -> None:
    limits = row.state.limits_of(row.user_id, row.currency)
    if not limits:
        return
    found = protection.breach(limits, totals, kinds, amount, command_time(row.command))
    if found is None:
        return
    per_bet = found.period is LimitPeriod.BET
    event = row.texts.protection_event(
        "refused",
        ProtectionEventKind.REFUSED,
        limit=found.kind.value,
        period=found.period.value,
        limit_amount=row.fmt(found.limit),
        problem="limit-exceeded",
        amount=row.fmt(amount),
        used=None if per_bet else row.fmt(totals[found.period].used(found.kind)),
        period_start=None if per_bet else totals[found.period].start.isoformat(),
    )
    raise row.refuse(
        "limit-exceeded",
        f"{row.fmt(amount)} would exceed the {found.kind.value} limit of {row.fmt(found.limit)}"
        f" per {found.period.value}; {row.fmt(found.allowed)} is still allowed",
        effects=(event,),
        refused_by=f"{found.kind.value}/{found.period.value}",
        limit=found.kind.value,
        period=found.period.value,
        limit_amount=row.fmt(found.limit),
        allowed=row.fmt(found.allowed),
    )


def refuse_past_ceiling(
    row: Row, totals: PeriodTotals, *, deposits: int = 0, wagers: int = 0
) -> None:
    """Refuse a deposit or a stake that would take a period total past what its column holds
    (the database never has to be the one to overflow)."""
    found = protection.over_ceiling(totals, deposits=deposits, wagers=wagers)
    if found is None:
        return
    kind, period = found
    raise row.refuse(
        "period-total-exceeded",
        f"the {period.period.value}'s {kind.value} total {row.fmt(period.used(kind))} cannot"
        f" grow by {row.fmt(deposits or wagers)}: it would pass {row.fmt(protection.TOTAL_CEILING)}",
        period=period.period.value,
        period_start=period.start.isoformat(),
    )


def totals_after(
    row: Row,
    totals: PeriodTotals,
    *,
    deposits: int = 0,
    wagers: int = 0,
    losses: int = 0,
) -> TotalsAfter:
    after, crossings = protection.add(
        row.state.limits_of(row.user_id, row.currency),
        totals,
        command_time(row.command),
        deposits=deposits,
        wagers=wagers,
        losses=losses,
    )
    alerts = tuple(
        row.texts.protection_event(
            f"threshold:{c.kind.value}:{c.period.value}:{c.threshold}",
            ProtectionEventKind.THRESHOLD_REACHED,
            limit=c.kind.value,
            period=c.period.value,
            limit_amount=row.fmt(c.limit),
            threshold_percent=c.threshold,
            used=row.fmt(c.used),
            period_start=c.start.isoformat(),
        )
        for c in crossings
    )
    return TotalsAfter(tuple(after.values()), alerts)
