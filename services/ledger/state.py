"""The stored state one batch decides against, held in memory and updated decision by decision.

The shell loads the rows a batch can touch into a ``BatchState``; the core reads it and returns a
``Decision``; ``apply`` folds that decision in, so the next command of the same batch sees it.
``BatchState`` also remembers what changed, which is all the writer needs. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from services.ledger.model import (
    Account,
    Bet,
    BetState,
    Decision,
    Grant,
    Key,
    RoundLock,
    Session,
    StoredDecision,
    Tombstone,
)
from services.ledger.protection import Exclusion, Limit, Totals
from shared.contracts.protection import LimitKind, LimitPeriod

LimitKey = tuple[str, str, LimitKind, LimitPeriod]
"""(user_id, currency, limit kind, period)."""


@dataclass(slots=True)
class BatchState:
    decisions: dict[Key, StoredDecision] = field(default_factory=dict)
    accounts: dict[tuple[str, str], Account] = field(default_factory=dict)
    bets: dict[tuple[str, str], Bet] = field(default_factory=dict)
    round_bets: dict[tuple[str, str, str], list[tuple[str, str]]] = field(default_factory=dict)
    """(provider, user_id, round_id) -> keys of ``bets``, in the order the bets were placed."""
    round_locks: set[tuple[str, str, str]] = field(default_factory=set)
    tombstones: dict[tuple[str, str], Tombstone] = field(default_factory=dict)
    sessions: dict[str, Session] = field(default_factory=dict)
    grants: dict[int, Grant] = field(default_factory=dict)
    expired: set[Key] = field(default_factory=set)
    """Keys whose transaction exists but whose decision retention has deleted."""
    limits: dict[tuple[str, str], dict[tuple[LimitKind, LimitPeriod], Limit]] = field(
        default_factory=dict
    )
    exclusions: dict[tuple[str, str], Exclusion] = field(default_factory=dict)
    totals: dict[tuple[str, str, LimitPeriod], Totals] = field(default_factory=dict)

    # What changed, for the writer.
    new_accounts: set[tuple[str, str]] = field(default_factory=set)
    changed_accounts: dict[tuple[str, str], int] = field(default_factory=dict)
    """Existing accounts touched in this batch -> their summed balance delta."""
    new_bets: set[tuple[str, str]] = field(default_factory=set)
    changed_bets: set[tuple[str, str]] = field(default_factory=set)
    grant_deltas: dict[int, int] = field(default_factory=dict)
    changed_limits: set[LimitKey] = field(default_factory=set)
    changed_exclusions: set[tuple[str, str]] = field(default_factory=set)
    changed_totals: set[tuple[str, str, LimitPeriod]] = field(default_factory=set)

    # -- reads -------------------------------------------------------------------------------

    def decision(self, key: Key) -> StoredDecision | None:
        return self.decisions.get(key)

    def account(self, user_id: str, currency: str) -> Account | None:
        return self.accounts.get((user_id, currency))

    def bet(self, provider: str, bet_tx_id: str) -> Bet | None:
        return self.bets.get((provider, bet_tx_id))

    def bets_of_round(self, provider: str, user_id: str, round_id: str) -> list[Bet]:
        keys = self.round_bets.get((provider, user_id, round_id), [])
        return [self.bets[key] for key in keys]

    def round_locked(self, provider: str, user_id: str, round_id: str) -> bool:
        return (provider, user_id, round_id) in self.round_locks

    def tombstone(self, provider: str, bet_tx_id: str) -> Tombstone | None:
        return self.tombstones.get((provider, bet_tx_id))

    def session(self, token: str) -> Session | None:
        return self.sessions.get(token)

    def limits_of(self, user_id: str, currency: str) -> dict[tuple[LimitKind, LimitPeriod], Limit]:
        return self.limits.get((user_id, currency), {})

    def exclusion(self, user_id: str, currency: str) -> Exclusion | None:
        return self.exclusions.get((user_id, currency))

    def stored_totals(self, user_id: str, currency: str, period: LimitPeriod) -> Totals | None:
        return self.totals.get((user_id, currency, period))

    def grants_of(self, user_id: str, currency: str) -> list[Grant]:
        found = [g for g in self.grants.values() if g.user_id == user_id and g.currency == currency]
        return sorted(found, key=lambda g: g.grant_id)

    # -- loading ----------------------------------------------------------------------------

    def add_bet(self, bet: Bet) -> None:
        key = (bet.provider, bet.bet_tx_id)
        self.bets[key] = bet
        if bet.round_id is not None:
            self.round_bets.setdefault((bet.provider, bet.user_id, bet.round_id), []).append(key)

    # -- folding a decision in ----------------------------------------------------------------

    def apply(self, decision: Decision) -> None:
        if decision.stored and decision.key is not None and decision.operator_tx_id is not None:
            self.decisions[decision.key] = StoredDecision(
                fingerprint=decision.fingerprint,
                status=decision.status,
                body=decision.body,
                operator_tx_id=decision.operator_tx_id,
            )
        account_key = (decision.user_id, decision.currency)
        if decision.new_account is not None:
            self.accounts[account_key] = decision.new_account
            self.new_accounts.add(account_key)
        if decision.account_status is not None or decision.balance_delta:
            account = self.accounts[account_key]
            self.accounts[account_key] = Account(
                account.user_id,
                account.currency,
                decision.account_status or account.status,
                account.balance + decision.balance_delta,
            )
            if account_key not in self.new_accounts:
                delta = self.changed_accounts.get(account_key, 0) + decision.balance_delta
                self.changed_accounts[account_key] = delta
        if decision.new_bet is not None:
            self.add_bet(decision.new_bet)
            self.new_bets.add((decision.new_bet.provider, decision.new_bet.bet_tx_id))
        for change in decision.bet_states:
            self._set_bet_state(change.provider, change.bet_tx_id, change.state)
        if decision.tombstone is not None:
            tomb = decision.tombstone
            self.tombstones[(tomb.provider, tomb.bet_tx_id)] = tomb
        if decision.round_lock is not None:
            self._lock_round(decision.round_lock)
        if decision.limit is not None:
            limit = decision.limit
            self.limits.setdefault(account_key, {})[(limit.kind, limit.period)] = limit
            self.changed_limits.add((*account_key, limit.kind, limit.period))
        if decision.exclusion is not None:
            self.exclusions[account_key] = decision.exclusion
            self.changed_exclusions.add(account_key)
        for totals in decision.totals:
            self.totals[(*account_key, totals.period)] = totals
            self.changed_totals.add((*account_key, totals.period))
        for taken in decision.grant_deltas:
            grant = self.grants[taken.grant_id]
            self.grants[taken.grant_id] = replace(grant, remaining=grant.remaining + taken.delta)
            self.grant_deltas[taken.grant_id] = (
                self.grant_deltas.get(taken.grant_id, 0) + taken.delta
            )

    def _set_bet_state(self, provider: str, bet_tx_id: str, state: BetState) -> None:
        key = (provider, bet_tx_id)
        self.bets[key] = replace(self.bets[key], state=state)
        if key not in self.new_bets:
            self.changed_bets.add(key)

    def _lock_round(self, lock: RoundLock) -> None:
        self.round_locks.add((lock.provider, lock.user_id, lock.round_id))
