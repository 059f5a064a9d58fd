"""Player protection's rules: limits, exclusions, period totals and threshold alerts. Pure.

The decision core (``decide.py``) calls these with the stored state of one account and the
command's own time (a webhook's ``received_at``, an operator command's ``requested_at``): no
clock, no I/O. Amounts are integers in the currency's minor units.

* A limit row holds the amount in force since its last change, and possibly a pending change (a
  raise, or a removal when ``pending_amount`` is None) that takes effect at ``pending_at``. The
  limit in force at a moment is resolved here, so nothing has to rewrite a row when a cooling-off
  period ends.
* Period totals are one row per account and calendar period (day, week, month in the operator's
  time zone), holding the period's first day: a total whose period has passed counts as zero, and
  the next write starts the new period. A check reads three rows, never the player's history.
* ``loss`` is net: stakes minus wins minus refunds in the period (it may be negative after a win,
  which leaves room for more stakes). An open stake counts as lost until it is won or refunded.
  Free bets and their wins count toward no limit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from shared.contracts.protection import (
    CALENDAR_PERIODS,
    ExclusionKind,
    LimitKind,
    LimitPeriod,
    first_day,
    limit_in_force,
    local_date,
)

#: The most a period total may hold, in minor units: the ceiling of its BIGINT column. A deposit
#: or a stake that would take its period's deposits or wagers past it is refused by the decision
#: (``over_ceiling``); the net loss, which wins and refunds lower, is kept at or above its
#: negative (``add``), never refusing money the player is owed.
TOTAL_CEILING = 2**63 - 1

#: The thresholds that raise an alert, once per period each, in percent of the limit.
THRESHOLDS: tuple[int, ...] = (80, 100)

#: Bit of a period total's ``alerts`` for (limit kind, threshold).
_ALERT_KINDS = (LimitKind.DEPOSIT, LimitKind.WAGER, LimitKind.LOSS)


def alert_bit(kind: LimitKind, threshold: int) -> int:
    return 1 << (_ALERT_KINDS.index(kind) * len(THRESHOLDS) + THRESHOLDS.index(threshold))


@dataclass(frozen=True, slots=True)
class Limit:
    kind: LimitKind
    period: LimitPeriod
    amount: int
    """In force since the limit's last change (> 0)."""
    pending_amount: int | None = None
    """What the limit becomes at ``pending_at``; None with a ``pending_at``: removed then."""
    pending_at: datetime | None = None

    def in_force(self, at: datetime) -> int | None:
        """The limit at ``at``; None when a pending removal has taken effect."""
        return limit_in_force(self.amount, self.pending_amount, self.pending_at, at)


@dataclass(frozen=True, slots=True)
class Exclusion:
    kind: ExclusionKind
    since: datetime
    until: datetime | None
    """None: indefinite."""

    def in_force(self, at: datetime) -> bool:
        return self.until is None or at < self.until


@dataclass(frozen=True, slots=True)
class Totals:
    """One account's totals in one calendar period."""

    period: LimitPeriod
    start: date
    deposits: int = 0
    wagers: int = 0
    losses: int = 0
    alerts: int = 0
    """Bits (``alert_bit``) of the thresholds already announced in this period."""

    def used(self, kind: LimitKind) -> int:
        if kind is LimitKind.DEPOSIT:
            return self.deposits
        if kind is LimitKind.WAGER:
            return self.wagers
        return self.losses


def current_totals(
    stored: Callable[[LimitPeriod], Totals | None], at: datetime, time_zone: str
) -> dict[LimitPeriod, Totals]:
    """Each calendar period's totals in the period holding ``at``: the stored ones
    (``stored(period)``) if they are of that period, else zero (a new period has begun; a row
    of a later period than ``at`` also counts as zero, which only happens when clocks
    disagree)."""
    local = local_date(at, time_zone)
    current: dict[LimitPeriod, Totals] = {}
    for period in CALENDAR_PERIODS:
        start = first_day(local, period)
        found = stored(period)
        current[period] = (
            found if found is not None and found.start == start else Totals(period, start)
        )
    return current


@dataclass(frozen=True, slots=True)
class Breach:
    """A limit that a stake or deposit would break, and what is still allowed under it."""

    kind: LimitKind
    period: LimitPeriod
    limit: int
    allowed: int


def breach(
    limits: dict[tuple[LimitKind, LimitPeriod], Limit],
    totals: dict[LimitPeriod, Totals],
    kinds: tuple[LimitKind, ...],
    amount: int,
    at: datetime,
) -> Breach | None:
    """The most restrictive of ``kinds``' limits in force at ``at`` that ``amount`` breaks
    (the one leaving least allowed), or None."""
    found: Breach | None = None
    for (kind, period), limit in sorted(limits.items()):
        if kind not in kinds:
            continue
        cap = limit.in_force(at)
        if cap is None:
            continue
        used = 0 if period is LimitPeriod.BET else totals[period].used(kind)
        if used + amount > cap:
            allowed = max(0, cap - used)
            if found is None or allowed < found.allowed:
                found = Breach(kind, period, cap, allowed)
    return found


STAKE_KINDS: tuple[LimitKind, ...] = (LimitKind.MAX_BET, LimitKind.WAGER, LimitKind.LOSS)
DEPOSIT_KINDS: tuple[LimitKind, ...] = (LimitKind.DEPOSIT,)


@dataclass(frozen=True, slots=True)
class Crossing:
    """A period total that reached a threshold of its limit for the first time in the period."""

    kind: LimitKind
    period: LimitPeriod
    threshold: int
    limit: int
    used: int
    start: date


def over_ceiling(
    totals: dict[LimitPeriod, Totals], *, deposits: int = 0, wagers: int = 0
) -> tuple[LimitKind, Totals] | None:
    """The first calendar period's total that adding these amounts would take past
    ``TOTAL_CEILING`` (which total, and the period's totals as they are), or None. The net
    loss grows by at most the stake and never exceeds the wagers, so bounding the wagers bounds
    it too."""
    for period in CALENDAR_PERIODS:
        now = totals[period]
        if now.deposits + deposits > TOTAL_CEILING:
            return LimitKind.DEPOSIT, now
        if now.wagers + wagers > TOTAL_CEILING:
            return LimitKind.WAGER, now
    return None


def add(
    limits: dict[tuple[LimitKind, LimitPeriod], Limit],
    totals: dict[LimitPeriod, Totals],
    at: datetime,
    *,
    deposits: int = 0,
    wagers: int = 0,
    losses: int = 0,
) -> tuple[dict[LimitPeriod, Totals], tuple[Crossing, ...]]:
    """Every calendar period's totals after adding these amounts, and the thresholds crossed
    for the first time in the period (each is then marked, so it is announced once). Only a
    total that grows can cross a threshold."""
    added = {LimitKind.DEPOSIT: deposits, LimitKind.WAGER: wagers, LimitKind.LOSS: losses}
    after: dict[LimitPeriod, Totals] = {}
    crossings: list[Crossing] = []
    for period in CALENDAR_PERIODS:
        now = totals[period]
        new = Totals(
            now.period,
            now.start,
            now.deposits + deposits,
            now.wagers + wagers,
            # Only after net wins past the ceiling itself; a floor keeps later stakes counted
            # from there, which is stricter than the exact total, never looser.
            max(now.losses + losses, -TOTAL_CEILING),
            now.alerts,
        )
        alerts = new.alerts
        for kind in _ALERT_KINDS:
            if added[kind] <= 0:
                continue
            limit = limits.get((kind, period))
            cap = None if limit is None else limit.in_force(at)
            if cap is None:
                continue
            used = new.used(kind)
            for threshold in THRESHOLDS:
                bit = alert_bit(kind, threshold)
                if not alerts & bit and used * 100 >= cap * threshold:
                    alerts |= bit
                    crossings.append(Crossing(kind, period, threshold, cap, used, now.start))
        # A new value only when a threshold was crossed (``dataclasses.replace`` is slow, and
        # this runs three times per stake, win and deposit).
        after[period] = new if alerts == new.alerts else replace(new, alerts=alerts)
    return after, tuple(crossings)


@dataclass(frozen=True, slots=True)
class LimitChange:
    """What a set or remove command does to one limit."""

    limit: Limit | None
    """The row to store; None: nothing to store (removing a limit that is not there)."""
    in_force: int | None
    """The limit in force right after the command."""
    effective_at: datetime
    """When the requested value takes effect (the command's time, or after cooling-off)."""
    requested: int | None
    """The requested limit; None for a removal."""


def change_limit(
    current: Limit | None,
    kind: LimitKind,
    period: LimitPeriod,
    requested: int | None,
    *,
    at: datetime,
    cooling_off: timedelta,
) -> LimitChange:
    """Set (``requested`` > 0) or remove (``requested`` None) a limit at ``at``.

    A new limit, a lower one or the same one takes effect at once and cancels any pending
    change; a higher one or a removal takes effect after ``cooling_off``, the limit in force
    staying as it is until then (a second such request restarts the wait).
    """
    in_force = None if current is None else current.in_force(at)
    if requested is not None and (in_force is None or requested <= in_force):
        return LimitChange(Limit(kind, period, requested), requested, at, requested)
    if in_force is None:  # removing a limit that is not in force: nothing changes
        return LimitChange(None, None, at, None)
    effective_at = at + cooling_off
    stored = Limit(kind, period, in_force, requested, effective_at)
    return LimitChange(stored, in_force, effective_at, requested)


def extend_exclusion(
    current: Exclusion | None, kind: ExclusionKind, until: datetime | None, at: datetime
) -> Exclusion:
    """The exclusion after a request at ``at``: a new one starts at once; one in force is never
    shortened (the later end wins; indefinite beats any date) and keeps its start."""
    if current is None or not current.in_force(at):
        return Exclusion(kind, at, until)
    if current.until is None or (until is not None and until <= current.until):
        return current
    return Exclusion(kind, current.since, until)
