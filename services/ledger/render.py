"""The texts of the ledger's decisions: answer bodies, problem+json refusals, event payloads.

Pure. Every body written here is stored with its decision and replayed byte for byte to each
redelivery, so a changed byte is a changed answer: field order, names and number formats are part
of the contract (``tests/unit/ledger`` pins them). All of it is written by
``shared.jsonwire.dumps_compact``, the one writer of stored answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.ledger.model import (
    BetState,
    Command,
    Flag,
    Key,
    OutboxEvent,
    command_time,
    event_id_for,
)
from shared.contracts.commands import OperatorCommand, WebhookEnvelope
from shared.contracts.events import transaction_event
from shared.contracts.problems import problem
from shared.contracts.protection import PROTECTION_EVENT_TYPE, ProtectionEventKind
from shared.currencies import CurrencyTable
from shared.jsonwire import dumps_compact
from shared.money import format_minor


@dataclass(frozen=True, slots=True)
class Answer:
    """An answer's status and exact body text."""

    status: int
    body: str


def refusal(
    slug: str,
    detail: str,
    *,
    key: Key | None = None,
    decision_id: str = "",
    status: int | None = None,
    **extra: Any,
) -> Answer:
    """A problem+json answer. A keyed one names its decision (``instance``: ``decision_id``, the
    id of the decision being made, or of the one stored for the key) and transaction."""
    if key is None:
        body = problem(slug, detail, status=status, **extra)
    elif not decision_id:
        raise ValueError(f"a keyed refusal names its decision: {slug} for {key}")
    else:
        body = problem(
            slug,
            detail,
            instance=f"urn:hypeledger:decision:{decision_id}",
            status=status,
            provider_tx_id=key.provider_tx_id,
            **extra,
        )
    return Answer(int(body["status"]), dumps_compact(body))


def balance_answer(env: WebhookEnvelope, balance: str) -> Answer:
    """A balance read's answer (never stored)."""
    return Answer(
        200,
        dumps_compact(
            {
                "user_id": env.user_id,
                "currency": env.currency,
                "balance": balance,
                "hypetech_session_token": env.session_token,
                "old_balance": balance,
                "new_balance": balance,
            }
        ),
    )


#: ``ProtectionEvent``'s optional fields, in its order (every event carries all of them).
_PROTECTION_EVENT_FIELDS = (
    "limit",
    "period",
    "limit_amount",
    "effective_at",
    "exclusion",
    "until",
    "problem",
    "amount",
    "threshold_percent",
    "used",
    "period_start",
    "requested_by",
    "reason",
)


class Texts:
    """The texts of one keyed command's decision; each amount is formatted once, so the answer
    and the events carry the same balances."""

    __slots__ = ("_currencies", "_formatted", "command", "currency", "key", "operator_tx_id")

    def __init__(self, key: Key, command: Command, currencies: CurrencyTable) -> None:
        self.key = key
        self.command = command
        self.currency: str = command.currency
        self.operator_tx_id = key.operator_tx_id(command_time(command))
        self._currencies = currencies
        self._formatted: dict[int, str] = {}

    def fmt(self, minor: int) -> str:
        """``minor`` in the command's currency as a decimal string."""
        text = self._formatted.get(minor)
        if text is None:
            text = format_minor(minor, self.currency, self._currencies)
            self._formatted[minor] = text
        return text

    def money_body(self, old: int, new: int) -> str:
        """A money webhook's answer."""
        return dumps_compact(
            {
                "operator_tx_id": self.operator_tx_id,
                "new_balance": self.fmt(new),
                "old_balance": self.fmt(old),
                "user_id": self.command.user_id,
                "currency": self.currency,
                "provider": self.key.provider,
                "provider_tx_id": self.key.provider_tx_id,
            }
        )

    def command_body(self, cmd: OperatorCommand, **fields: Any) -> str:
        """An operator command's answer: its ids, then ``fields`` in order."""
        return dumps_compact(
            {
                "operator_tx_id": self.operator_tx_id,
                "kind": cmd.kind,
                "idempotency_key": cmd.idempotency_key,
                "user_id": cmd.user_id,
                "currency": cmd.currency,
                **fields,
            }
        )

    def transaction_event(
        self,
        *,
        old: int,
        new: int,
        amount: int | None,
        round_id: str | None = None,
        mode: str | None = None,
        bet_state: BetState | None = None,
        flags: tuple[Flag, ...] = (),
    ) -> OutboxEvent:
        """The decision's event on ``wallet.transactions.v1``."""
        command = self.command
        occurred_at = (
            command.received_at if isinstance(command, WebhookEnvelope) else command.requested_at
        )
        event_id = event_id_for(self.operator_tx_id)
        payload = transaction_event(
            event_id=event_id,
            kind=self.key.kind,
            provider=self.key.provider,
            provider_tx_id=self.key.provider_tx_id,
            operator_tx_id=self.operator_tx_id,
            user_id=command.user_id,
            currency=self.currency,
            amount=None if amount is None else self.fmt(amount),
            old_balance=self.fmt(old),
            new_balance=self.fmt(new),
            round_id=round_id,
            mode=mode,
            bet_state=bet_state,
            flags=list(flags),
            occurred_at=occurred_at,
        )
        return OutboxEvent(event_id=event_id, key=command.user_id, payload=dumps_compact(payload))

    def protection_event(
        self, suffix: str, kind: ProtectionEventKind, **fields: Any
    ) -> OutboxEvent:
        """A player-protection event; ``suffix`` tells apart the events of one decision."""
        event_id = event_id_for(f"{self.operator_tx_id}:protection:{suffix}")
        payload: dict[str, Any] = {
            "event_id": event_id,
            "event_type": PROTECTION_EVENT_TYPE,
            "schema_version": 1,
            "kind": kind.value,
            "operator_tx_id": self.operator_tx_id,
            "user_id": self.command.user_id,
            "currency": self.currency,
        }
        payload.update({name: fields.get(name) for name in _PROTECTION_EVENT_FIELDS})
        payload["occurred_at"] = command_time(self.command)
        return OutboxEvent(event_id, self.command.user_id, dumps_compact(payload))
