"""Player protection's vocabulary and its public event (``event_type`` ``wallet.protection``).

Limits are per account ``(user_id, currency)``: ``deposit``, ``wager`` and ``loss`` per calendar
``day``, ``week`` or ``month`` (in the operator's time zone), and ``max_bet`` per stake (its
period is ``bet``). Exclusions are ``self_exclusion`` (until a date, or indefinite) and
``time_out`` (a short self-exclusion, always until a date).

The event is published by the outbox relay on ``wallet.transactions.v1`` (beside the transaction
events, in one order per player; consumers tell them apart by ``event_type``), keyed by
``user_id``, at least once and in order per key; consumers dedupe on ``event_id``. Its JSON Schema is committed at
``shared/contracts/schemas/protection_event.v1.json`` (generated from ``ProtectionEvent``).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field

PROTECTION_EVENT_TYPE: Literal["wallet.protection"] = "wallet.protection"


class LimitKind(StrEnum):
    DEPOSIT = "deposit"
    WAGER = "wager"
    LOSS = "loss"
    MAX_BET = "max_bet"


class LimitPeriod(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    BET = "bet"
    """``max_bet``'s only period: one stake."""


CALENDAR_PERIODS: tuple[LimitPeriod, ...] = (LimitPeriod.DAY, LimitPeriod.WEEK, LimitPeriod.MONTH)


def period_fits(kind: LimitKind, period: LimitPeriod) -> bool:
    """``max_bet`` goes with ``bet``; every other kind with a calendar period."""
    return (kind is LimitKind.MAX_BET) == (period is LimitPeriod.BET)


@lru_cache(maxsize=16)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def period_start(at: datetime, period: LimitPeriod, time_zone: str) -> date:
    """The first day of the calendar period holding ``at``, in ``time_zone`` (weeks start on
    Monday, as ISO 8601's). The ledger and the operator API read periods the same way."""
    return first_day(local_date(at, time_zone), period)


def local_date(at: datetime, time_zone: str) -> date:
    """The day ``at`` falls on in ``time_zone``."""
    return at.astimezone(zone(time_zone)).date()


def first_day(local: date, period: LimitPeriod) -> date:
    """The first day of the calendar period holding the local day ``local``."""
    if period is LimitPeriod.DAY:
        return local
    if period is LimitPeriod.WEEK:
        return local - timedelta(days=local.weekday())
    return local.replace(day=1)


def limit_in_force(
    amount: int, pending_amount: int | None, pending_at: datetime | None, at: datetime
) -> int | None:
    """A stored limit at ``at``: ``amount`` until ``pending_at``, then ``pending_amount``
    (None: the limit was removed)."""
    if pending_at is not None and at >= pending_at:
        return pending_amount
    return amount


class ExclusionKind(StrEnum):
    SELF_EXCLUSION = "self_exclusion"
    TIME_OUT = "time_out"


class ProtectionEventKind(StrEnum):
    LIMIT_CHANGED = "limit_changed"
    """A limit was set, lowered, raised or removed (a raise or removal names its effective_at)."""
    EXCLUDED = "excluded"
    """A self-exclusion or time-out was recorded (or extended)."""
    REFUSED = "refused"
    """A bet or deposit was refused by a limit or an exclusion."""
    THRESHOLD_REACHED = "threshold_reached"
    """A period total reached 80 % or 100 % of its limit for the first time in the period."""


class ProtectionEvent(BaseModel):
    """A change of a player's protection, a refusal it caused, or a threshold crossing."""

    model_config = ConfigDict(frozen=True, extra="forbid", title="ProtectionEvent")

    event_id: str = Field(description="Stable per event (UUID); dedupe on it.")
    event_type: Literal["wallet.protection"] = PROTECTION_EVENT_TYPE
    schema_version: Literal[1] = 1
    kind: ProtectionEventKind
    operator_tx_id: str = Field(description="The decision that caused the event (UUID).")
    user_id: str
    currency: str
    limit: LimitKind | None = Field(default=None, description="The limit concerned, if one.")
    period: LimitPeriod | None = None
    limit_amount: str | None = Field(
        default=None, description="The limit (decimal string); null when removed."
    )
    effective_at: datetime | None = Field(
        default=None, description="When a limit change or exclusion takes effect."
    )
    exclusion: ExclusionKind | None = None
    until: datetime | None = Field(
        default=None, description="End of an exclusion; null for an indefinite one."
    )
    problem: str | None = Field(default=None, description="The refusal's problem type slug.")
    amount: str | None = Field(
        default=None, description="The refused stake or deposit (decimal string)."
    )
    threshold_percent: int | None = Field(default=None, description="80 or 100.")
    used: str | None = Field(default=None, description="The period total (decimal string).")
    period_start: str | None = Field(
        default=None, description="First day of the period (ISO date, operator's time zone)."
    )
    requested_by: str | None = None
    reason: str | None = None
    occurred_at: datetime = Field(description="When the command or webhook was received.")
