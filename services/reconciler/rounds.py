"""Finished rounds, pure: which open bets the reconciler settles as lost, and which are findings.

The newest doc generation has no lose webhook: a bet that does not win is never mentioned again.
Once Hypetech reports its round ``FINISHED``, the bet ``SUCCESS`` and no win for it, the bet was
lost, and settling it is bookkeeping (a ``settle_lost`` ledger command with the reason
``round-finished``; no money moves), not a finding.

Per player, currency and round finished at Hypetech, each bet still ``open`` here is one of:

* **explained**: a row that would settle it (a win naming it, or in the older generations any win
  or lose of the round) differs or is still pending: that row's own outcome says what is wrong
  or not yet known; nothing more is said or done about the bet now;
* **won there**: Hypetech applied a win naming it (or an unnamed win of its round) and the ledger
  has that win too, yet the bet is open: a real disagreement, ``open_bet_on_finished_round``;
* **settleable**: it matched, it is older than the grace period, and nothing at Hypetech won it.

The ledger's ``settle_lost`` settles every open bet of the player's round in that currency, so a
round is settled only when all its open bets here are settleable; a round holding one that is not
(young, explained, differing, won there) waits, and the bet that holds it is reported on its own.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from services.reconciler.rows import LedgerRow, ProviderRow, ProviderStatus
from shared.contracts.bets import BetState
from shared.contracts.commands import WebhookKind
from shared.contracts.reconciliation import RowClass

REASON = "round-finished"
_APPLIED = frozenset({ProviderStatus.SUCCESS, ProviderStatus.ROLLED_BACK})
_SETTLING = frozenset({WebhookKind.WIN, WebhookKind.LOSE})


@dataclass(frozen=True, slots=True)
class Settlement:
    """The open bets of one player's finished round, to settle as lost in one ledger command."""

    user_id: str
    currency: str
    round_id: str
    bets: tuple[LedgerRow, ...]
    """By id: the same open bets give the same command."""

    @property
    def bet_tx_ids(self) -> tuple[str, ...]:
        return tuple(bet.tx_id for bet in self.bets)

    @property
    def idempotency_key(self) -> str:
        """Stable for the same open bets of the same round (a retried or repeated settlement is
        the same command, answered from the ledger's record); a bet that reaches the ledger
        after its round was settled gives a new key, so it is settled in turn."""
        parts = (self.user_id, self.currency, self.round_id, *self.bet_tx_ids)
        digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()
        return f"{REASON}:{digest}"


@dataclass(frozen=True, slots=True)
class RoundVerdict:
    settlements: tuple[Settlement, ...]
    won_there: tuple[LedgerRow, ...]
    """Open bets Hypetech paid while the ledger has the same win: findings."""


class RoundOutcome(Protocol):
    """What the matcher knows of one pair or lone row, as far as rounds need it."""

    @property
    def row_class(self) -> RowClass | None: ...
    @property
    def provider(self) -> ProviderRow | None: ...
    @property
    def ledger(self) -> LedgerRow | None: ...


def finished_rounds(
    outcomes: Sequence[RoundOutcome], provider_rows: Sequence[ProviderRow], cutoff: datetime
) -> RoundVerdict:
    finished = {p.round_id for p in provider_rows if p.round_id is not None and p.round_finished}
    paid_bets, paid_rounds = _paid_at_provider(provider_rows)
    unsettled_bets, unsettled_rounds = _unsettled(outcomes)
    open_bets: dict[tuple[str, str, str], list[LedgerRow]] = defaultdict(list)
    settleable: dict[tuple[str, str, str], list[LedgerRow]] = defaultdict(list)
    won_there: list[LedgerRow] = []
    for outcome in outcomes:
        bet = outcome.ledger
        if (
            bet is None
            or bet.kind is not WebhookKind.BET
            or not bet.accepted
            or bet.bet_state is not BetState.OPEN
            or bet.round_id not in finished
        ):
            continue
        round_key = (bet.user_id, bet.currency, bet.round_id)
        open_bets[round_key].append(bet)
        if bet.tx_id in unsettled_bets or bet.round_id in unsettled_rounds:
            continue  # explained by the settling row's own outcome
        if outcome.row_class is not RowClass.MATCHED:
            continue  # the bet's own difference (or pending) speaks for it
        if bet.tx_id in paid_bets or bet.round_id in paid_rounds:
            won_there.append(bet)
        elif bet.decided_at <= cutoff:
            settleable[round_key].append(bet)
    settlements = [
        Settlement(user, currency, round_id, tuple(sorted(bets, key=lambda b: b.tx_id)))
        for (user, currency, round_id), bets in sorted(settleable.items())
        if len(bets) == len(open_bets[(user, currency, round_id)])
    ]
    return RoundVerdict(tuple(settlements), tuple(won_there))


def _paid_at_provider(provider_rows: Sequence[ProviderRow]) -> tuple[set[str], set[str]]:
    """Bets Hypetech paid by a win naming them, and rounds with an applied win naming no bet."""
    bets: set[str] = set()
    rounds: set[str] = set()
    for p in provider_rows:
        if p.kind is not WebhookKind.WIN or p.status not in _APPLIED:
            continue
        if p.linked_tx_id is not None:
            bets.add(p.linked_tx_id)
        elif p.round_id is not None:
            rounds.add(p.round_id)
    return bets, rounds


def _unsettled(outcomes: Sequence[RoundOutcome]) -> tuple[set[str], set[str]]:
    """Bets and rounds whose settling row at Hypetech differs here or is still pending."""
    bets: set[str] = set()
    rounds: set[str] = set()
    for o in outcomes:
        p = o.provider
        if p is None or o.row_class is RowClass.MATCHED:
            continue
        if p.linked_tx_id is not None and p.kind is not WebhookKind.ROLLBACK:
            bets.add(p.linked_tx_id)
        elif p.kind in _SETTLING and p.round_id is not None:
            rounds.add(p.round_id)
    return bets, rounds
