"""One webhook is one trace: ingress HTTP span, command sent, ledger decision, public event.

A real ingress over HTTP, the real broker, the real ledger on real Postgres and its outbox relay,
with the SDK's in-memory exporter installed in place of an OTLP one.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from shared import kafka, tracing
from shared.contracts.topics import COMMANDS, TRANSACTIONS
from shared.jsonwire import dumps_compact
from tests.integration.ingress.served import ServedIngress, ingress_settings, signed_headers
from tests.integration.ledger.ledger_harness import Ledger, eventually, ledger_harness

pytestmark = pytest.mark.e2e

BET = "/webhooks/hypetech/bet"


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.install(provider)
    try:
        yield exporter
    finally:
        tracing.install(None)
        provider.shutdown()


@pytest.fixture
async def ledger(
    common_env: dict[str, Any], db_pool: asyncpg.Pool, spans: InMemorySpanExporter
) -> AsyncIterator[Ledger]:
    async with ledger_harness(common_env, db_pool) as harness:
        yield harness


@pytest.fixture
def served(ledger: Ledger) -> Iterator[ServedIngress]:
    names = ("environment", "kafka_bootstrap_servers", "kafka_flavour", "kafka_fetch_max_wait_ms",
             "topic_prefix")  # fmt: skip
    kafka_env = {name: getattr(ledger.settings, name) for name in names}
    with ServedIngress(ingress_settings(kafka_env), ledger=False) as served:
        yield served


async def event_headers_of(ledger: Ledger, user: str, provider_tx_id: str) -> dict[str, bytes]:
    """The headers of the public event of ``user``'s transaction ``provider_tx_id``."""
    consumer = kafka.consumer(ledger.settings, ledger.settings.topic(TRANSACTIONS), group_id=None)
    await consumer.start()
    try:
        for _ in range(60):
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                for record in records:
                    if record.key == user.encode() and provider_tx_id.encode() in record.value:
                        return dict(record.headers)
    finally:
        await consumer.stop()
    raise AssertionError(f"no event for {user} on {TRANSACTIONS}")


def one(spans: list[ReadableSpan], name: str, kind: SpanKind, trace_id: int = 0) -> ReadableSpan:
    """The one span of that name and kind (in trace ``trace_id`` unless 0)."""
    found = [
        span
        for span in spans
        if span.name == name and span.kind is kind and trace_id in (0, span.context.trace_id)
    ]
    assert len(found) == 1, [(span.name, span.kind) for span in spans]
    return found[0]


def parent_of(span: ReadableSpan) -> int | None:
    return None if span.parent is None else span.parent.span_id


async def test_one_webhook_is_one_trace_across_ingress_ledger_and_its_event(
    ledger: Ledger, served: ServedIngress, spans: InMemorySpanExporter
) -> None:
    user, provider_tx_id = await ledger.player("100.00"), uuid.uuid4().hex[:16]
    body = dumps_compact({
        "user_id": user, "currency": "USD", "amount": 10, "provider": "hypetech",
        "provider_tx_id": provider_tx_id, "game": "aviador", "action": "bet",
        "round_id": "r1", "mode": "default", "count_register": "1", "session_token": f"tok-{user}",
    }).encode()  # fmt: skip
    spans.clear()

    async with httpx.AsyncClient(base_url=served.base_url, timeout=20) as http:
        response = await http.post(
            BET, content=body, headers=signed_headers(served.settings, BET, body)
        )
    event = await event_headers_of(ledger, user, provider_tx_id)
    commands = ledger.settings.topic(COMMANDS)
    events = ledger.settings.topic(TRANSACTIONS)

    async def published_in_the_trace() -> bool:
        finished = spans.get_finished_spans()
        server = one(list(finished), f"POST {BET}", SpanKind.SERVER)
        return any(
            s.name == f"{events} send" and s.context.trace_id == server.context.trace_id
            for s in finished
        )

    await eventually(published_in_the_trace)

    assert response.status_code == 200, response.text
    finished = list(spans.get_finished_spans())
    server = one(finished, f"POST {BET}", SpanKind.SERVER)
    trace_id = server.context.trace_id
    sent = one(finished, f"{commands} send", SpanKind.PRODUCER, trace_id)
    decided = one(finished, f"{commands} process", SpanKind.CONSUMER, trace_id)
    published = one(finished, f"{events} send", SpanKind.PRODUCER, trace_id)
    assert parent_of(sent) == server.context.span_id
    assert parent_of(decided) == sent.context.span_id
    assert parent_of(published) == sent.context.span_id
    assert dict(server.attributes or {})["http.response.status_code"] == 200
    outcome = dict(decided.attributes or {})
    assert (outcome["hypeledger.kind"], outcome["hypeledger.outcome"]) == ("bet", "applied")
    _, event_trace, event_span, _ = event[tracing.TRACEPARENT].decode().split("-")
    assert (int(event_trace, 16), int(event_span, 16)) == (trace_id, published.context.span_id)
