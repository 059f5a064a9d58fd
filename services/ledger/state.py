"""The stored state one batch decides against, held in memory and updated decision by decision.

The shell loads the rows a batch can touch into a ``BatchState``; the core reads it and returns a
``Decision``; ``apply`` folds that decision's effects in, so the next command of the same batch
sees them. The writer (``store``) reads what changed from the decisions' effects, and the values
they left from here. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import assert_never

from services.ledger.model import (
    PLAYER,
    Account,
    Bet,
    BetChange,
    Decision,
    Grant,
    GrantChange,
    Key,
    Movement,
    OpenAccount,
    OutboxEvent,
    PlaceBet,
    ProtectionRecord,
    RoundLock,
    Session,
    SetAccountStatus,
    StoredDecision,
    Tombstone,
)
from services.ledger.protection import Exclusion, Limit, Totals
from shared.contracts.protection import LimitKind, LimitPeriod


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
    expired: dict[Key, str] = field(default_factory=dict)
    """Keys whose transaction exists but whose decision retention has deleted: the
    transaction's ``operator_tx_id``, which the ``decision-expired`` answer names."""
    limits: dict[tuple[str, str], dict[tuple[LimitKind, LimitPeriod], Limit]] = field(
        default_factory=dict
    )
    exclusions: dict[tuple[str, str], Exclusion] = field(default_factory=dict)
    totals: dict[tuple[str, str, LimitPeriod], Totals] = field(default_factory=dict)

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
        """Fold ``decision`` in: its stored answer, then each of its effects."""
        if decision.stored and decision.key is not None and decision.operator_tx_id is not None:
            self.decisions[decision.key] = StoredDecision(
                fingerprint=decision.fingerprint,
                status=decision.status,
                body=decision.body,
                operator_tx_id=decision.operator_tx_id,
            )
        account_key = (decision.user_id, decision.currency)
        for effect in decision.effects:
            match effect:
                case Totals():
                    self.totals[(*account_key, effect.period)] = effect
                case OutboxEvent():
                    pass  # nothing a later decision reads
                case Movement():
                    for posting in effect.postings:
                        if posting.account_type is PLAYER:
                            self._credit((posting.account_ref, posting.currency), posting.amount)
                case PlaceBet():
                    self.add_bet(effect.bet)
                case BetChange():
                    key = (effect.provider, effect.bet_tx_id)
                    self.bets[key] = replace(self.bets[key], state=effect.state)
                case GrantChange():
                    grant = self.grants[effect.grant_id]
                    self.grants[grant.grant_id] = replace(
                        grant, remaining=grant.remaining + effect.delta
                    )
                case OpenAccount():
                    account = effect.account
                    self.accounts[(account.user_id, account.currency)] = account
                case SetAccountStatus():
                    self.accounts[account_key] = replace(
                        self.accounts[account_key], status=effect.status
                    )
                case Tombstone():
                    self.tombstones[(effect.provider, effect.bet_tx_id)] = effect
                case RoundLock():
                    self.round_locks.add((effect.provider, effect.user_id, effect.round_id))
                case Limit():
                    self.limits.setdefault(account_key, {})[(effect.kind, effect.period)] = effect
                case Exclusion():
                    self.exclusions[account_key] = effect
                case ProtectionRecord():
                    pass  # kept for good, never read back by a decision
                case _:
                    assert_never(effect)

    def _credit(self, account_key: tuple[str, str], amount: int) -> None:
        account = self.accounts[account_key]
        self.accounts[account_key] = Account(
            account.user_id, account.currency, account.status, account.balance + amount
        )
