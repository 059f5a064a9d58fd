"""The ledger's part of a trace (``shared/tracing.py``): one CONSUMER span per command decided.

The span's parent is the context in the command's headers (the ingress's or the operator API's
PRODUCER span), so a webhook's trace runs on through the ledger. It starts at the record's
timestamp (when it was produced) and ends when the reply is queued: its length is the command's
time in Kafka, in its batch and in Postgres. It carries the decision (kind, outcome, status),
and its context goes into the reply's headers.

The command's ``traceparent`` is also stored on the outbox rows of its decision, so the relay
publishes the public events in the same trace, whether or not the ledger itself traces.
"""

from __future__ import annotations

from aiokafka.structs import ConsumerRecord
from opentelemetry.trace import SpanKind, Status, StatusCode

from services.ledger.model import Decision
from shared import tracing

_TRACEPARENT = tracing.TRACEPARENT


def traceparent_of(record: ConsumerRecord[bytes, bytes]) -> str | None:
    """The command's ``traceparent`` header, as text for the outbox row (None without one)."""
    for name, value in record.headers or ():
        if name == _TRACEPARENT and value:
            return bytes(value).decode("latin-1")
    return None


def decided(
    record: ConsumerRecord[bytes, bytes], decision: Decision | None
) -> list[tuple[str, bytes]]:
    """Record the decision of ``record`` as a finished span; its headers for the reply."""
    if not tracing.enabled():
        return []
    span = tracing.start_span(
        f"{record.topic} process",
        tracing.kafka_carrier(record.headers),
        SpanKind.CONSUMER,
        {
            "messaging.system": "kafka",
            "messaging.operation.type": "process",
            "messaging.destination.name": record.topic,
            "messaging.destination.partition.id": str(record.partition),
            "messaging.kafka.offset": record.offset,
            "hypeledger.kind": "unknown" if decision is None else decision.kind,
            "hypeledger.outcome": "dead_lettered" if decision is None else decision.outcome.value,
            "hypeledger.status": 500 if decision is None else decision.status,
        },
        start_time_ns=record.timestamp * 1_000_000 if record.timestamp > 0 else None,
    )
    if span is None:
        return []
    if decision is None:
        span.set_status(Status(StatusCode.ERROR, "dead-lettered"))
    span.end()
    return tracing.kafka_headers(span)
