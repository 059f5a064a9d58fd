"""Messages on ``wallet.commands.v1`` and the ledger's reply.

Two kinds of command share the topic (keyed by ``user_id``, so one player's money is one
partition, in order):

* ``WebhookEnvelope``: one Hypetech webhook of any doc generation (V1..V4), normalised by the
  ingress. Its idempotency key is ``(provider, kind, provider_tx_id)``.
* ``OperatorCommand``: the operator's own account changes, deposits and withdrawals. Its
  idempotency key is ``("operator", kind, idempotency_key)``.

Amounts travel as exact decimal strings (pydantic serialises ``Decimal`` as a string in JSON mode).
A webhook's amount also travels in minor units, as the ingress parsed it (``amount_minor``); an
operator command's, and a webhook's written before that field, the ledger turns into minor units
with the currency's exponent.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from shared.contracts.protection import LimitKind, LimitPeriod
from shared.identifiers import Currency, IdempotencyKey, ProviderId, UserId


class WebhookKind(StrEnum):
    BET = "bet"
    WIN = "win"
    LOSE = "lose"
    ROLLBACK = "rollback"
    BALANCE = "balance"


class OperatorKind(StrEnum):
    CREATE_ACCOUNT = "create_account"
    BLOCK = "block"
    UNBLOCK = "unblock"
    DEPOSIT = "deposit"
    WITHDRAW = "withdraw"
    SETTLE_LOST = "settle_lost"
    """A correction policy's command: settle a finished round's open bets as lost (no money moves)."""
    SET_LIMIT = "set_limit"
    REMOVE_LIMIT = "remove_limit"
    EXCLUDE = "exclude"
    """Self-exclusion until ``until``, or indefinite when ``until`` is None."""
    TIME_OUT = "time_out"
    """A short self-exclusion until ``until``."""


PROTECTION_KINDS = frozenset(
    {OperatorKind.SET_LIMIT, OperatorKind.REMOVE_LIMIT, OperatorKind.EXCLUDE, OperatorKind.TIME_OUT}
)


class Generation(StrEnum):
    """Which generation of Hypetech's docs the webhook was written in (see docs/hypetech-api.md)."""

    V1 = "v1"
    V2 = "v2"
    V3 = "v3"
    V4 = "v4"


WinWithoutRound = Literal["reject", "accept_and_flag"]
"""What the ledger does with a win whose round has no bet of the player: refuse it
(``round-not-found``), or accept it and flag it for the reconciler."""


class Mode(StrEnum):
    DEFAULT = "default"
    FREE = "free"


_FROZEN = ConfigDict(frozen=True, extra="forbid")


class WebhookEnvelope(BaseModel):
    """One Hypetech webhook, normalised. Everything the ledger decides on is here."""

    model_config = _FROZEN

    type: Literal["webhook"] = "webhook"
    kind: WebhookKind
    generation: Generation
    provider: str
    provider_tx_id: str | None = None
    """Exact decimal text when the provider sent a number. ``None`` only on balance reads."""
    user_id: str
    currency: str
    amount: Decimal | None = None
    """The amount as the ingress read it, exact, with the currency's decimals (what the
    fingerprint hashes)."""
    amount_minor: int | None = None
    """The same amount in the currency's minor units, parsed once by the ingress. Envelopes
    written before it was carried have only ``amount``, which the ledger then parses."""
    amount_noise_rounded: bool = False
    """The provider's number was within float noise of ``amount`` and was rounded to it."""
    round_id: str | None = None
    session_token: str | None = None
    game: str | None = None
    mode: Mode = Mode.DEFAULT
    bonus_code: str | None = None
    linked_tx_id: str | None = None
    rollback_provider_tx_id: str | None = None
    count_register: int | None = None
    extra_data: str | None = None
    aggregator: str | None = None
    platform: str | None = None
    action: str | None = None
    received_at: datetime

    @property
    def rollback_target(self) -> str | None:
        """The bet a rollback undoes: ``linked_tx_id``, else ``rollback_provider_tx_id``, else its own id."""
        return self.linked_tx_id or self.rollback_provider_tx_id or self.provider_tx_id

    def fingerprint_fields(self) -> tuple[object, ...]:
        """What must be equal for a redelivery to count as the same transaction."""
        return (
            self.user_id,
            self.currency,
            None if self.amount is None else self.amount.normalize(),
            self.round_id,
            self.linked_tx_id or self.rollback_provider_tx_id,
            self.mode.value,
        )


class OperatorCommand(BaseModel):
    """The operator's own change to an account, carrying the caller's idempotency key."""

    # Its ids keep the rules of ``shared.identifiers``: the ledger refuses (dead-letters) a
    # command that no door of the operator API would have sent.

    model_config = _FROZEN

    type: Literal["operator"] = "operator"
    kind: OperatorKind
    idempotency_key: IdempotencyKey
    user_id: UserId
    currency: Currency
    amount: Decimal | None = None
    round_id: ProviderId | None = None
    reason: str | None = None
    requested_by: str | None = None
    requested_at: datetime
    limit: LimitKind | None = None
    """Player protection (``set_limit``, ``remove_limit``): which limit."""
    period: LimitPeriod | None = None
    until: datetime | None = None
    """Player protection (``exclude``, ``time_out``): the end of the exclusion."""

    def fingerprint_fields(self) -> tuple[object, ...]:
        fields: tuple[object, ...] = (
            self.user_id,
            self.currency,
            None if self.amount is None else self.amount.normalize(),
            self.round_id,
        )
        if self.kind in PROTECTION_KINDS:
            # Only protection commands name these, so older kinds keep their fingerprints.
            until = None if self.until is None else self.until.isoformat()
            fields = (*fields, self.limit, self.period, until)
        return fields


WalletCommand = Annotated[WebhookEnvelope | OperatorCommand, Field(discriminator="type")]
WALLET_COMMAND: TypeAdapter[WebhookEnvelope | OperatorCommand] = TypeAdapter(WalletCommand)


class LedgerReply(BaseModel):
    """The ledger's answer to one command, sent to the command's ``reply_to`` after the commit.

    ``body`` is the exact response text stored with the decision, so a redelivery is answered
    byte for byte as the first time.
    """

    model_config = _FROZEN

    status: int
    body: str
    content_type: str = "application/json"
    operator_tx_id: str | None = None
    replayed: bool = False


LEDGER_REPLY: TypeAdapter[LedgerReply] = TypeAdapter(LedgerReply)
