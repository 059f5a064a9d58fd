"""The reconciler's classes and the event it publishes on ``wallet.reconciliation.v1``.

Every provider row and every ledger row of a checked session ends in exactly one ``RowClass``;
every class but ``matched`` is a difference. ``open_bet_on_finished_round`` is round-level: a bet
still open here while Hypetech reports its round ``FINISHED``. Each difference becomes a finding,
stored with both sides' rows as evidence and published once per change, keyed by session id.
The JSON Schema of the event is ``schemas/reconciliation_finding.v1.json`` (generated from
``ReconciliationFinding`` and checked by a test).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from shared.contracts.compatibility import open_to_additions


class RowClass(StrEnum):
    MATCHED = "matched"
    MISSING_IN_LEDGER = "missing_in_ledger"
    """Hypetech says SUCCESS; hypeledger never applied it."""
    MISSING_AT_PROVIDER = "missing_at_provider"
    """Applied here, unknown at Hypetech once the grace period has passed."""
    AMOUNT_MISMATCH = "amount_mismatch"
    KIND_MISMATCH = "kind_mismatch"
    STATUS_MISMATCH = "status_mismatch"
    """For example rolled back or refused here, SUCCESS there."""
    OPEN_BET_ON_FINISHED_ROUND = "open_bet_on_finished_round"
    """Round level: a bet still open here while Hypetech reports its round FINISHED."""


class FindingStatus(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"
    IGNORED = "ignored"


class ReconciliationFinding(BaseModel):
    """One difference between Hypetech and the ledger, as published on ``wallet.reconciliation.v1``.

    ``event_id`` is stable per (finding, version): a consumer dedupes on it. Amounts inside the
    evidence are decimal strings.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["reconciliation_finding"] = "reconciliation_finding"
    schema_version: Literal[1] = 1
    event_id: str = Field(
        min_length=1, description="finding id and version: stable when re-published"
    )
    finding_id: int = Field(ge=1)
    version: int = Field(ge=1, description="bumped on every status change")
    dedupe_key: str = Field(min_length=1, description="a difference found again keeps its key")
    finding_class: RowClass
    status: FindingStatus
    provider: str
    session_id: str
    kind: str | None = None
    provider_tx_id: str | None = None
    round_id: str | None = None
    user_id: str | None = None
    currency: str | None = None
    detail: str
    provider_row: dict[str, Any] | None = Field(default=None, description="Hypetech's row(s)")
    ledger_row: dict[str, Any] | None = Field(default=None, description="the ledger's row")
    run_id: int = Field(ge=1, description="the run that last saw this difference")
    first_seen_at: datetime
    last_seen_at: datetime
    times_seen: int = Field(ge=1)
    status_changed_by: str | None = None
    status_changed_at: datetime | None = None
    status_reason: str | None = None


RECONCILIATION_FINDING: TypeAdapter[ReconciliationFinding] = TypeAdapter(ReconciliationFinding)


def finding_json_schema() -> dict[str, Any]:
    """The JSON Schema committed as ``schemas/reconciliation_finding.v1.json``."""
    schema = open_to_additions(ReconciliationFinding.model_json_schema())
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://hypeledger.dev/schemas/reconciliation_finding.v1.json"
    return schema
