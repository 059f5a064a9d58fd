from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import jsonschema  # type: ignore[import-untyped]

from shared.contracts.reconciliation import (
    FindingStatus,
    ReconciliationFinding,
    RowClass,
    finding_json_schema,
)

SCHEMA_PATH = (
    Path(__file__).parents[3]
    / "shared"
    / "contracts"
    / "schemas"
    / "reconciliation_finding.v1.json"
)


def test_the_committed_json_schema_is_the_one_the_model_generates() -> None:
    committed = json.loads(SCHEMA_PATH.read_text())

    assert committed == finding_json_schema()


def test_a_published_finding_validates_against_the_committed_schema() -> None:
    seen = datetime(2026, 5, 4, 15, 0, tzinfo=UTC)
    event = ReconciliationFinding(
        event_id="12:1",
        finding_id=12,
        version=1,
        dedupe_key="s1|amount_mismatch|rollback:9",
        finding_class=RowClass.AMOUNT_MISMATCH,
        status=FindingStatus.OPEN,
        provider="hypetech",
        session_id="s1",
        kind="rollback",
        provider_tx_id="9",
        detail="amounts differ",
        provider_row={"transactionId": "9", "amount": "10.00"},
        ledger_row={"provider_tx_id": "9", "amount": "12"},
        run_id=3,
        first_seen_at=seen,
        last_seen_at=seen,
        times_seen=1,
    )

    jsonschema.validate(json.loads(event.model_dump_json()), json.loads(SCHEMA_PATH.read_text()))
