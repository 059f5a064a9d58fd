"""One keyed command being decided: what every rule reads, and the two ways a rule ends.

A rule either returns ``row.applied(...)`` or raises ``row.refuse(...)``: a refusal is always
raised, wherever it is found (in the rule itself or in a check it calls), and ``decide`` turns it
into its stored decision. Pure.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from services.ledger.model import (
    AccountType,
    Bet,
    BetChange,
    BetState,
    Command,
    Decision,
    Effect,
    Flag,
    Key,
    Movement,
    Outcome,
    Policy,
    Posting,
    command_time,
)
from services.ledger.render import Texts, refusal
from services.ledger.state import BatchState
from shared.contracts.commands import WebhookEnvelope


class Refused(Exception):
    """A rule's stored refusal, raised to end the rule."""

    def __init__(self, decision: Decision) -> None:
        super().__init__(decision.body)
        self.decision = decision


class Row:
    """A keyed command with its stored state, derived ids and the texts of its answer."""

    __slots__ = (
        "command",
        "currency",
        "fingerprint",
        "fmt",
        "key",
        "operator_tx_id",
        "policy",
        "state",
        "texts",
        "user_id",
    )

    def __init__(
        self, state: BatchState, command: Command, key: Key, digest: str, policy: Policy
    ) -> None:
        self.state = state
        self.command = command
        self.key = key
        self.fingerprint = digest
        self.policy = policy
        self.texts = Texts(key, command, policy.currencies)
        self.user_id: str = command.user_id
        self.currency: str = command.currency
        self.operator_tx_id = self.texts.operator_tx_id
        self.fmt: Callable[[int], str] = self.texts.fmt
        """``minor`` in the command's currency as a decimal string (``Texts.fmt``)."""

    def refuse(
        self,
        slug: str,
        detail: str,
        *,
        status: int | None = None,
        flags: tuple[Flag, ...] = (),
        effects: tuple[Effect, ...] = (),
        refused_by: str | None = None,
        **extra: Any,
    ) -> Refused:
        """The stored refusal ``slug`` (``extra`` goes into the problem body), to be raised;
        ``effects`` are what a refusal still changes (its event, a rollback's tombstone)."""
        answer = refusal(
            slug, detail, key=self.key, decision_id=self.operator_tx_id, status=status, **extra
        )
        return Refused(
            self._decision(
                Outcome.REJECTED,
                answer.status,
                answer.body,
                flags=flags,
                effects=effects,
                refused_by=refused_by,
            )
        )

    def applied(self, body: str, *effects: Effect, flags: tuple[Flag, ...] = ()) -> Decision:
        """The stored acceptance (200) with ``body`` and what it changes."""
        return self._decision(Outcome.APPLIED, 200, body, flags=flags, effects=effects)

    def settled_lost(
        self,
        body: str,
        settled: list[Bet],
        balance: int,
        round_id: str | None,
        mode: str | None = None,
    ) -> Decision:
        """The acceptance of a lose: ``settled`` become lost, no money moves."""
        return self.applied(
            body,
            *(BetChange(b.provider, b.bet_tx_id, BetState.LOST) for b in settled),
            self.texts.transaction_event(
                old=balance,
                new=balance,
                amount=None,
                round_id=round_id,
                mode=mode,
                bet_state=BetState.LOST if settled else None,
            ),
        )

    def _decision(
        self,
        outcome: Outcome,
        status: int,
        body: str,
        *,
        flags: tuple[Flag, ...],
        effects: tuple[Effect, ...],
        refused_by: str | None = None,
    ) -> Decision:
        return Decision(
            outcome=outcome,
            status=status,
            body=body,
            kind=self.key.kind,
            user_id=self.user_id,
            currency=self.currency,
            key=self.key,
            fingerprint=self.fingerprint,
            operator_tx_id=self.operator_tx_id,
            flags=flags,
            occurred_at=command_time(self.command),
            refused_by=refused_by,
            effects=effects,
        )

    def movement(
        self, counterparty: AccountType, counterparty_ref: str, player_delta: int
    ) -> Movement:
        """Money between the player and ``counterparty``: two postings summing to zero."""
        command = self.command
        return Movement(
            kind=self.key.kind,
            provider=self.key.provider,
            provider_tx_id=self.key.provider_tx_id,
            user_id=self.user_id,
            currency=self.currency,
            round_id=command.round_id,
            postings=(
                Posting(AccountType.PLAYER, self.user_id, self.currency, player_delta),
                Posting(counterparty, counterparty_ref, self.currency, -player_delta),
            ),
            session_token=command.session_token if isinstance(command, WebhookEnvelope) else None,
        )
