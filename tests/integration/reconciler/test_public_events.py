"""Every public topic read as a CloudEvents consumer reads it: the SDK's Kafka binding parses each
record (binary mode), its attributes are the documented ones, and its data and headers validate
against the schemas the AsyncAPI document names for the topic."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from cloudevents.core.bindings.kafka import KafkaMessage, from_binary
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from jsonschema import Draft202012Validator
from reconciler_stack import (  # type: ignore[import-not-found]
    faults,
    money_path,
    play,
    read_to_end,
)
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from services.ledger.metrics import LedgerMetrics
from services.ledger.relay import OutboxRelay
from services.ledger.settings import LedgerSettings
from services.reconciler.app import build
from services.reconciler.runner import RunRequest
from shared import kafka
from shared.contracts.cloudevents import PUBLIC, EventSource

pytestmark = pytest.mark.integration

ASYNCAPI = Path(__file__).resolve().parents[3] / "docs" / "asyncapi.yaml"
DOCUMENT_URI = "urn:hypeledger:asyncapi"


def documented(topic: str) -> tuple[Draft202012Validator, Draft202012Validator]:
    """Validators of the payload and the headers the AsyncAPI document gives ``topic``."""
    document = yaml.safe_load(ASYNCAPI.read_text())
    (channel,) = [c for c in document["channels"].values() if c["address"] == topic]
    (message_ref,) = [m["$ref"] for m in channel["messages"].values()]
    message_name = message_ref.rsplit("/", 1)[-1]
    registry: Registry[Any] = Registry().with_resource(
        DOCUMENT_URI, Resource.from_contents(document, default_specification=DRAFT202012)
    )
    base = f"{DOCUMENT_URI}#/components/messages/{message_name.replace('/', '~1')}"
    payload = Draft202012Validator({"$ref": f"{base}/payload"}, registry=registry)
    headers = Draft202012Validator({"$ref": f"{base}/headers"}, registry=registry)
    return payload, headers


def as_cloudevent(record: Any) -> CloudEvent:
    message = KafkaMessage(headers=dict(record.headers), key=record.key, value=record.value)
    event = from_binary(message, JSONFormat(), CloudEvent)
    assert isinstance(event, CloudEvent)
    return event


def problems_of(events: EventSource, record: Any, settings: LedgerSettings) -> list[str]:
    payload_schema, headers_schema = documented(events.topic)
    event = as_cloudevent(record)
    data = event.get_data()
    assert isinstance(data, dict)
    headers = {name: value.decode() for name, value in record.headers}
    found = [e.message for e in payload_schema.iter_errors(data)]
    found += [e.message for e in headers_schema.iter_errors(headers)]
    checks = {
        "specversion": event.get_specversion() == "1.0",
        "id is the event_id": event.get_id() == data["event_id"],
        "source": event.get_source() == events.source,
        "type": event.get_type() == events.type,
        "time is aware": event.get_time() is not None and event.get_time().tzinfo is not None,
        "subject is the key": event.get_subject() == record.key.decode(),
        "json": event.get_datacontenttype() == "application/json",
    }
    return found + [name for name, ok in checks.items() if not ok]


async def test_every_public_event_is_a_cloudevent_the_asyncapi_document_describes(
    infra: Any, common_env: dict[str, Any]
) -> None:
    async with money_path(
        infra, common_env, generation="v4", seed=7, **faults("0.3", ("drift",))
    ) as stack:
        await play(stack, players=3, rounds=6)
        settings = LedgerSettings(**stack.common, topic_prefix=stack.prefix)
        producer = kafka.producer(settings)
        await producer.start()
        try:
            relay = OutboxRelay(settings, stack.pool, producer, LedgerMetrics())
            while await relay.publish_once():
                pass
        finally:
            await kafka.stop_client(producer)
        async with build(stack.reconciler_settings()) as app:
            await app.reconciler.run_once(RunRequest("manual"))
        records = {events: await read_to_end(settings, events.topic) for events in PUBLIC}

    for events, published in records.items():
        assert published, f"nothing was published on {events.topic}"
        for record in published:
            assert problems_of(events, record, settings) == [], events.topic
    ids = [as_cloudevent(r).get_id() for events in PUBLIC for r in records[events]]
    assert len(ids) == len(set(ids))
