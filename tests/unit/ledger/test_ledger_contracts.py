"""The committed contract documents are generated from the code and kept current."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import yaml

from services.ledger import asyncapi
from shared.contracts.cloudevents import PUBLIC
from shared.contracts.events import TransactionEvent, transaction_event, transaction_json_schema

ROOT = Path(__file__).resolve().parents[3]
SCHEMA = ROOT / "shared/contracts/schemas/transaction_event.v1.json"
ASYNCAPI = ROOT / "docs/asyncapi.yaml"


def generated_schema() -> dict[str, object]:
    return transaction_json_schema()


def test_transaction_event_schema_file_matches_the_model() -> None:
    committed = json.loads(SCHEMA.read_text())

    assert committed == generated_schema()


def test_the_hot_path_event_builder_satisfies_the_model_and_the_schema() -> None:
    event = transaction_event(
        event_id="e1",
        kind="bet",
        provider="hypetech",
        provider_tx_id="559",
        operator_tx_id="o1",
        user_id="26",
        currency="USD",
        amount="2.00",
        old_balance="10.00",
        new_balance="8.00",
        round_id="255",
        mode="default",
        bet_state="open",
        flags=[],
        occurred_at=datetime(2026, 5, 4, tzinfo=UTC),
    )

    jsonschema.validate(event, json.loads(SCHEMA.read_text()))
    assert TransactionEvent.model_validate(event).model_dump(mode="json")["event_id"] == "e1"


def test_asyncapi_document_is_current() -> None:
    generated = asyncapi.document()

    # FastStream orders channels differently from run to run: compare the documents, not the text.
    assert generated == yaml.safe_load(ASYNCAPI.read_text()), (
        "regenerate: python -m services.ledger.asyncapi > docs/asyncapi.yaml"
    )


def test_faststream_generates_the_document_the_amendments_start_from(tmp_path: Path) -> None:
    out = tmp_path / "asyncapi.yaml"

    subprocess.run(
        [
            sys.executable,
            "-m",
            "faststream",
            "docs",
            "gen",
            "--yaml",
            "--factory",
            "services.ledger.asyncapi:asyncapi_app",
            "-o",
            str(out),
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=60,
    )
    generated = yaml.safe_load(out.read_text())
    committed = yaml.safe_load(ASYNCAPI.read_text())

    assert generated["channels"] == committed["channels"]
    assert generated["operations"] == committed["operations"]
    assert set(generated["components"]["schemas"]) == set(committed["components"]["schemas"])


def test_the_document_lists_every_public_topic_with_key_and_cloudevents_headers() -> None:
    committed = yaml.safe_load(ASYNCAPI.read_text())
    addresses = {channel["address"] for channel in committed["channels"].values()}

    for events in PUBLIC:
        message = committed["components"]["messages"][f"{events.topic}:publish:Message"]
        assert events.topic in addresses
        assert "correlationId" not in message
        assert message["headers"] == events.headers_schema()
        assert message["bindings"]["kafka"]["key"]["type"] == "string"
