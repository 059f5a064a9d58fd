"""The CloudEvents headers of the public events, as the Kafka binding's binary mode wants them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import jsonschema
from cloudevents.core.bindings.kafka import KafkaMessage, from_binary
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

from shared.contracts.cloudevents import FINDING_EVENTS, TRANSACTION_EVENTS, rfc3339
from shared.contracts.compatibility import open_to_additions
from shared.contracts.events import transaction_json_schema
from shared.contracts.reconciliation import finding_json_schema

TIME = datetime(2026, 5, 4, 14, 30, tzinfo=UTC)


def test_every_attribute_is_a_ce_header_and_the_payload_type_is_content_type() -> None:
    headers = dict(TRANSACTION_EVENTS.headers(event_id="e-1", time=TIME, subject="p-26"))

    assert headers == {
        "ce_specversion": b"1.0",
        "ce_id": b"e-1",
        "ce_source": b"/hypeledger/ledger",
        "ce_type": b"dev.hypeledger.wallet.transactions.v1",
        "ce_time": b"2026-05-04T14:30:00Z",
        "ce_subject": b"p-26",
        "content-type": b"application/json",
        "event_id": b"e-1",
    }


def test_the_cloudevents_sdk_reads_a_record_as_published() -> None:
    headers = dict(FINDING_EVENTS.headers(event_id="12:1", time=TIME, subject="s-1"))

    event = from_binary(
        KafkaMessage(headers=headers, key=b"s-1", value=b'{"event_id": "12:1"}'),
        JSONFormat(),
        CloudEvent,
    )

    assert (event.get_id(), event.get_source(), event.get_type()) == (
        "12:1",
        "/hypeledger/reconciler",
        "dev.hypeledger.wallet.reconciliation.v1",
    )
    assert event.get_time() == TIME
    assert event.get_data() == {"event_id": "12:1"}


def test_the_headers_satisfy_their_own_schema() -> None:
    for events in (TRANSACTION_EVENTS, FINDING_EVENTS):
        headers = {
            name: value.decode()
            for name, value in events.headers(event_id="x", time=TIME, subject="k")
        }

        jsonschema.validate(headers, events.headers_schema())


def test_times_are_written_in_utc_with_z() -> None:
    local = datetime(2026, 5, 4, 16, 30, tzinfo=timezone(timedelta(hours=2)))

    assert rfc3339(local) == "2026-05-04T14:30:00Z"
    assert rfc3339(TIME.replace(microsecond=125000)) == "2026-05-04T14:30:00.125000Z"


def test_the_published_schemas_accept_a_field_added_within_v1() -> None:
    event = {
        "event_id": "e1",
        "event_type": "wallet.transaction",
        "schema_version": 1,
        "kind": "bet",
        "provider": "hypetech",
        "provider_tx_id": "559",
        "operator_tx_id": "o1",
        "user_id": "26",
        "currency": "USD",
        "amount": "2.00",
        "old_balance": "10.00",
        "new_balance": "8.00",
        "occurred_at": "2026-05-04T00:00:00Z",
        "a_field_added_later": {"any": "thing"},
    }

    jsonschema.validate(event, transaction_json_schema())
    assert "additionalProperties" not in finding_json_schema()


def test_opening_a_schema_removes_only_the_ban_on_additions() -> None:
    schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {"rows": {"type": "array", "items": {"additionalProperties": False}}},
        "$defs": {"Open": {"additionalProperties": True}},
    }

    assert open_to_additions(schema) == {
        "type": "object",
        "properties": {"rows": {"type": "array", "items": {}}},
        "$defs": {"Open": {"additionalProperties": True}},
    }
