"""The analytics event on ``wallet.transactions.v1``: one per applied ledger decision.

Published by the outbox relay, keyed by ``user_id``, at least once and in order per key. Consumers
dedupe on ``event_id``, which is stable for a decision however often it is published. Amounts and
balances are decimal strings with the currency's decimals. The JSON Schema committed at
``shared/contracts/schemas/transaction_event.v1.json`` is generated from ``TransactionEvent``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.contracts.compatibility import open_to_additions

EVENT_TYPE: Literal["wallet.transaction"] = "wallet.transaction"
SCHEMA_VERSION: Literal[1] = 1


class TransactionEvent(BaseModel):
    """A decision the ledger applied: a bet, win, lose, rollback or an operator account change."""

    model_config = ConfigDict(frozen=True, extra="forbid", title="TransactionEvent")

    event_id: str = Field(description="Stable per decision (UUID); dedupe on it.")
    event_type: Literal["wallet.transaction"] = EVENT_TYPE
    schema_version: Literal[1] = SCHEMA_VERSION
    kind: str = Field(
        description=(
            "bet, win, lose, rollback, create_account, block, unblock, deposit, withdraw,"
            " settle_lost"
        )
    )
    provider: str = Field(
        description="The provider, or 'operator' for the operator's own commands."
    )
    provider_tx_id: str = Field(
        description="The provider's transaction id or the operator's idempotency key."
    )
    operator_tx_id: str = Field(description="hypeledger's id for the decision (UUID).")
    user_id: str
    currency: str
    amount: str | None = Field(
        description="Money moved, a decimal string; null when none was named."
    )
    old_balance: str
    new_balance: str
    round_id: str | None = None
    mode: str | None = Field(default=None, description="default or free, on webhook kinds.")
    bet_state: str | None = Field(
        default=None, description="The bet's state after this decision, if one."
    )
    flags: list[str] = Field(default_factory=list, description="Findings raised by this decision.")
    occurred_at: datetime = Field(description="When the webhook or command was received.")


def transaction_json_schema() -> dict[str, Any]:
    """The JSON Schema committed as ``schemas/transaction_event.v1.json`` (open to additions)."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://hypeledger.dev/schemas/transaction_event.v1.json",
        **open_to_additions(TransactionEvent.model_json_schema()),
    }


def transaction_event(
    *,
    event_id: str,
    kind: str,
    provider: str,
    provider_tx_id: str,
    operator_tx_id: str,
    user_id: str,
    currency: str,
    amount: str | None,
    old_balance: str,
    new_balance: str,
    round_id: str | None,
    mode: str | None,
    bet_state: str | None,
    flags: list[str],
    occurred_at: datetime,
) -> dict[str, Any]:
    """The event as a JSON-ready dict, in the field order of ``TransactionEvent``.

    The ledger builds events on its hot path with this function instead of the model; a test
    checks every event it publishes against the model and the committed JSON Schema.
    """
    return {
        "event_id": event_id,
        "event_type": EVENT_TYPE,
        "schema_version": SCHEMA_VERSION,
        "kind": kind,
        "provider": provider,
        "provider_tx_id": provider_tx_id,
        "operator_tx_id": operator_tx_id,
        "user_id": user_id,
        "currency": currency,
        "amount": amount,
        "old_balance": old_balance,
        "new_balance": new_balance,
        "round_id": round_id,
        "mode": mode,
        "bet_state": bet_state,
        "flags": flags,
        "occurred_at": occurred_at.isoformat(),
    }
