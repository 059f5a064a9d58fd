"""The pure matcher: one session's provider rows against its ledger rows.

Rows are matched by transaction id. Within one id, rows of the same kind pair first (kinds are
separate key spaces: some doc generations reuse a bet's id on its rollback); rows left over under
the same id pair across kinds as ``kind_mismatch``; rows left over after that are lone. Every row
ends in exactly one outcome, and every outcome in exactly one ``RowClass``:

* a pair of the same kind: ``status_mismatch`` when one side applied it and the other did not (or a
  bet is rolled back on one side only), else ``amount_mismatch`` when the amounts differ, else
  ``matched``;
* a lone provider row: ``missing_in_ledger`` when Hypetech applied it and it was requested before
  the grace period (``pending`` while it is younger: its webhook may still be on its way), else
  ``matched`` (neither side applied it);
* a lone ledger row: ``missing_at_provider`` when the ledger applied it and the grace period has
  passed, ``pending`` (checked again next run) while it has not, else ``matched``.

Round level (``services.reconciler.rounds``): the open bets of a round Hypetech reports
``FINISHED`` that nothing won there are settlements (settled as lost, not findings); a bet still
open here that Hypetech paid, with that win matched here, is an ``open_bet_on_finished_round``
difference. A bet that already differs, or whose settling row differs, is not reported twice.

No I/O, no clock: ``now`` and the grace period are inputs.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from services.reconciler.rounds import Settlement, finished_rounds
from services.reconciler.rows import LedgerRow, ProviderRow, ProviderStatus
from shared.contracts.bets import BetState
from shared.contracts.commands import WebhookKind
from shared.contracts.reconciliation import RowClass

_APPLIED = frozenset({ProviderStatus.SUCCESS, ProviderStatus.ROLLED_BACK})
#: Enum values looked up once (an enum's ``.value`` is a descriptor call, a million per run).
_KIND_TEXT = {kind: kind.value for kind in WebhookKind}
_CLASS_TEXT = {row_class: row_class.value for row_class in RowClass}


@dataclass(frozen=True, slots=True)
class Outcome:
    """Where one pair of rows, or one lone row, ended."""

    row_class: RowClass | None
    """``None`` while a lone row is inside its grace period (pending)."""
    provider: ProviderRow | None
    ledger: LedgerRow | None


@dataclass(frozen=True, slots=True)
class Difference:
    """One finding to store: its class, a subject stable across runs, and the evidence."""

    row_class: RowClass
    subject: str
    detail: str
    kind: str | None
    tx_id: str | None
    round_id: str | None
    user_id: str | None
    currency: str | None
    provider_row: dict[str, Any] | None
    ledger_row: dict[str, Any] | None

    def dedupe_key(self, session_id: str) -> str:
        return f"{session_id}|{self.row_class.value}|{self.subject}"


@dataclass(frozen=True, slots=True)
class SessionResult:
    outcomes: tuple[Outcome, ...]
    differences: tuple[Difference, ...]
    totals: Counter[str] = field(default_factory=Counter)
    """Outcomes per class (plus ``pending``); round-level differences counted under their class."""
    settlements: tuple[Settlement, ...] = ()
    """Open bets of rounds finished at Hypetech that nothing won: to settle as lost."""


def match_session(
    provider_rows: Sequence[ProviderRow],
    ledger_rows: Sequence[LedgerRow],
    *,
    now: datetime,
    grace: timedelta,
) -> SessionResult:
    """Classify every row of one session. Rows younger than ``now - grace`` (decided here or
    requested there) are young: a young lone row is pending, a young open bet not yet reported."""
    cutoff = now - grace
    provider_rows = _listed_once(provider_rows)
    by_id_provider: dict[str, list[ProviderRow]] = defaultdict(list)
    by_id_ledger: dict[str, list[LedgerRow]] = defaultdict(list)
    for prow in provider_rows:
        by_id_provider[prow.tx_id].append(prow)
    for lrow in ledger_rows:
        by_id_ledger[lrow.tx_id].append(lrow)
    rolled_back_there = _bets_rolled_back_at_provider(provider_rows, ledger_rows)

    outcomes: list[Outcome] = []
    for tx_id in sorted(by_id_provider.keys() | by_id_ledger.keys()):
        provider = by_id_provider.get(tx_id, [])
        ledger = by_id_ledger.get(tx_id, [])
        outcomes.extend(_match_id(provider, ledger, rolled_back_there, cutoff))

    differences = [_difference(o) for o in outcomes if _is_difference(o)]
    rounds = finished_rounds(outcomes, provider_rows, cutoff)
    round_differences = [
        open_bet_difference(bet, provider_rows, "the bet won there") for bet in rounds.won_there
    ]
    totals: Counter[str] = Counter(
        "pending" if outcome.row_class is None else _CLASS_TEXT[outcome.row_class]
        for outcome in outcomes
    )
    for diff in round_differences:
        totals[diff.row_class.value] += 1
    return SessionResult(
        tuple(outcomes), tuple(differences + round_differences), totals, rounds.settlements
    )


def _listed_once(provider_rows: Sequence[ProviderRow]) -> list[ProviderRow]:
    """A row listed twice (pages shift while new rows arrive) counts once: the first listing."""
    seen: set[tuple[str, str]] = set()
    once = []
    for row in provider_rows:
        kind = _KIND_TEXT[row.kind] if row.kind is not None else _provider_kind(row)
        key = (row.tx_id, kind)
        if key not in seen:
            seen.add(key)
            once.append(row)
    return once


def _match_id(
    provider: list[ProviderRow],
    ledger: list[LedgerRow],
    rolled_back_there: frozenset[str],
    cutoff: datetime,
) -> Iterable[Outcome]:
    if len(provider) == 1 and len(ledger) == 1 and provider[0].kind is ledger[0].kind:
        # the usual id: one row on each side, the same kind (what the loop below does with it)
        prow, lrow = provider[0], ledger[0]
        return (Outcome(_pair_class(prow, lrow, rolled_back_there), prow, lrow),)
    return _match_rows(provider, ledger, rolled_back_there, cutoff)


def _match_rows(
    provider: list[ProviderRow],
    ledger: list[LedgerRow],
    rolled_back_there: frozenset[str],
    cutoff: datetime,
) -> Iterable[Outcome]:
    provider_left = list(provider)
    ledger_left = list(ledger)
    for lrow in ledger:
        same_kind = next((p for p in provider_left if p.kind is lrow.kind), None)
        if same_kind is not None:
            provider_left.remove(same_kind)
            ledger_left.remove(lrow)
            yield Outcome(_pair_class(same_kind, lrow, rolled_back_there), same_kind, lrow)
    while provider_left and ledger_left:
        yield Outcome(RowClass.KIND_MISMATCH, provider_left.pop(0), ledger_left.pop(0))
    for prow in provider_left:
        if prow.status not in _APPLIED:
            yield Outcome(RowClass.MATCHED, prow, None)
        elif prow.requested_at is None or prow.requested_at <= cutoff:
            yield Outcome(RowClass.MISSING_IN_LEDGER, prow, None)
        else:
            yield Outcome(None, prow, None)
    for lrow in ledger_left:
        if not lrow.accepted:
            yield Outcome(RowClass.MATCHED, None, lrow)
        elif lrow.decided_at <= cutoff:
            yield Outcome(RowClass.MISSING_AT_PROVIDER, None, lrow)
        else:
            yield Outcome(None, None, lrow)


def _pair_class(prow: ProviderRow, lrow: LedgerRow, rolled_back_there: frozenset[str]) -> RowClass:
    if (
        lrow.kind is WebhookKind.BET
        and prow.status is ProviderStatus.ROLLED_BACK
        and not lrow.accepted
    ):
        return (
            RowClass.MATCHED
        )  # placed and cancelled there, refused here: nothing moved on either side
    applied_there = prow.status in _APPLIED
    if applied_there != lrow.accepted:
        return RowClass.STATUS_MISMATCH
    if not applied_there:
        return RowClass.MATCHED
    if lrow.kind is WebhookKind.BET:
        there = prow.status is ProviderStatus.ROLLED_BACK or lrow.tx_id in rolled_back_there
        here = lrow.bet_state is BetState.ROLLED_BACK
        if there != here:
            return RowClass.STATUS_MISMATCH
    if lrow.amount is None or lrow.amount != prow.amount:
        return RowClass.AMOUNT_MISMATCH
    return RowClass.MATCHED


def _bets_rolled_back_at_provider(
    provider_rows: Sequence[ProviderRow], ledger_rows: Sequence[LedgerRow]
) -> frozenset[str]:
    """Bets an applied rollback undid at Hypetech: named by the rollback row itself, or, where
    Hypetech's row does not name its target, by the ledger's applied rollback of the same id."""
    targets = {
        p.linked_tx_id
        for p in provider_rows
        if p.kind is WebhookKind.ROLLBACK and p.status in _APPLIED and p.linked_tx_id is not None
    }
    unnamed = {
        p.tx_id
        for p in provider_rows
        if p.kind is WebhookKind.ROLLBACK and p.status in _APPLIED and p.linked_tx_id is None
    }
    targets.update(
        lrow.rollback_target
        for lrow in ledger_rows
        if lrow.kind is WebhookKind.ROLLBACK
        and lrow.accepted
        and lrow.rollback_target is not None
        and lrow.tx_id in unnamed
    )
    return frozenset(t for t in targets if t is not None)


def _is_difference(outcome: Outcome) -> bool:
    return outcome.row_class is not None and outcome.row_class is not RowClass.MATCHED


def _difference(outcome: Outcome) -> Difference:
    if outcome.row_class is None:
        raise ValueError("a pending outcome is not a difference")
    prow, lrow = outcome.provider, outcome.ledger
    provider_kind = _provider_kind(prow)
    if lrow is not None:
        tx_id: str = lrow.tx_id
        kind = lrow.kind.value
        if outcome.row_class is RowClass.KIND_MISMATCH:
            kind = f"{provider_kind}/{lrow.kind.value}"
        round_id = lrow.round_id
    elif prow is not None:
        tx_id, kind, round_id = prow.tx_id, provider_kind, prow.round_id
    else:
        raise ValueError("an outcome has at least one row")
    return Difference(
        row_class=outcome.row_class,
        subject=f"{kind}:{tx_id}",
        detail=_detail(outcome.row_class, prow, lrow),
        kind=kind,
        tx_id=tx_id,
        round_id=round_id,
        user_id=lrow.user_id if lrow is not None else _raw_text(prow, "userId"),
        currency=lrow.currency if lrow is not None else _raw_text(prow, "currency"),
        provider_row=None if prow is None else prow.evidence(),
        ledger_row=None if lrow is None else lrow.evidence(),
    )


def _raw_text(prow: ProviderRow | None, key: str) -> str | None:
    value = None if prow is None else prow.evidence().get(key)
    return None if value is None else str(value)


def _provider_kind(prow: ProviderRow | None) -> str:
    if prow is None:
        return "-"
    if prow.kind is not None:
        return prow.kind.value
    return str(prow.evidence().get("transactionType", "?")).lower()


def _detail(row_class: RowClass, prow: ProviderRow | None, lrow: LedgerRow | None) -> str:
    there = (
        "absent" if prow is None else f"{_provider_kind(prow)} {prow.status.value} {prow.amount}"
    )
    if lrow is None:
        here = "absent"
    else:
        verdict = "applied" if lrow.accepted else f"refused {lrow.http_status}"
        state = f" ({lrow.bet_state.value})" if lrow.bet_state is not None else ""
        here = f"{lrow.kind.value} {verdict}{state} {lrow.amount}"
    return f"{row_class.value}: Hypetech {there}; ledger {here}"


def open_bet_difference(
    bet: LedgerRow, provider_rows: Sequence[ProviderRow], why: str
) -> Difference:
    """An ``open_bet_on_finished_round`` finding for ``bet``, with the round's rows there."""
    finished = [row for row in provider_rows if row.round_id == bet.round_id and row.round_finished]
    return Difference(
        row_class=RowClass.OPEN_BET_ON_FINISHED_ROUND,
        subject=f"round:{bet.round_id}:bet:{bet.tx_id}",
        detail=f"bet {bet.tx_id} open; Hypetech: round {bet.round_id} FINISHED, {why}",
        kind=WebhookKind.BET.value,
        tx_id=bet.tx_id,
        round_id=bet.round_id,
        user_id=bet.user_id,
        currency=bet.currency,
        provider_row={
            "round_id": bet.round_id,
            "round_status": "FINISHED",
            "rows": [row.evidence() for row in finished],
        },
        ledger_row=bet.evidence(),
    )
