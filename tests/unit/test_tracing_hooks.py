"""Tracing is off unless an exporter is named; while off it writes no span and no header."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from opentelemetry.sdk.resources import SERVICE_NAME
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shared import tracing

PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.fixture(autouse=True)
def tracing_off_afterwards(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("OTEL_TRACES_EXPORTER", "OTEL_SDK_DISABLED", "OTEL_SERVICE_NAME"):
        monkeypatch.delenv(name, raising=False)
    yield
    tracing.install(None)


@pytest.mark.parametrize("exporter", [None, "", "none"])
def test_is_off_without_an_exporter(monkeypatch: pytest.MonkeyPatch, exporter: str | None) -> None:
    if exporter is not None:
        monkeypatch.setenv("OTEL_TRACES_EXPORTER", exporter)

    provider = tracing.configure_tracing("hypeledger-test")

    assert provider is None
    assert not tracing.enabled()


def test_the_sdk_switch_wins_over_an_exporter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "console")
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")

    assert tracing.configure_tracing("hypeledger-test") is None


def test_names_the_service_unless_the_environment_does(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "console")
    named = tracing.configure_tracing("hypeledger-test")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "wallet-eu")
    renamed = tracing.configure_tracing("hypeledger-test")

    assert named is not None
    assert renamed is not None
    assert named.resource.attributes[SERVICE_NAME] == "hypeledger-test"
    assert renamed.resource.attributes[SERVICE_NAME] == "wallet-eu"
    assert tracing.enabled()
    named.shutdown()
    renamed.shutdown()


def test_refuses_an_exporter_it_does_not_know(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "jaeger")

    with pytest.raises(ValueError, match="jaeger"):
        tracing.configure_tracing("hypeledger-test")


def test_while_off_adds_no_header_and_passes_a_received_context_on() -> None:
    with tracing.producer_span("wallet.commands.v1") as headers:
        sent = headers

    assert sent == []
    assert tracing.http_span("POST", "/bet", {"traceparent": PARENT}).span is None
    assert tracing.pass_on({"traceparent": PARENT}, None) == [("traceparent", PARENT.encode())]


def test_a_producer_span_is_a_child_of_the_request_and_names_itself_in_its_headers() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.install(provider)

    request = tracing.http_span("POST", "/bet", {"traceparent": PARENT})
    with tracing.current(request), tracing.producer_span("wallet.commands.v1") as headers:
        sent = dict(headers)
    request.finish(200)

    producer, server = exporter.get_finished_spans()
    assert server.context.trace_id == int(PARENT.split("-")[1], 16)
    assert server.parent is not None
    assert server.parent.span_id == int(PARENT.split("-")[2], 16)
    assert producer.parent is not None
    assert producer.parent.span_id == server.context.span_id
    assert sent["traceparent"].decode().split("-")[2] == f"{producer.context.span_id:016x}"


async def test_the_http_middleware_names_the_span_after_the_route_and_keeps_the_status() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.install(provider)

    async def missing(request: Request) -> Response:
        return Response(status_code=404)

    app = Starlette(
        routes=[Route("/accounts/{user_id}", missing)],
        middleware=[Middleware(tracing.TracingMiddleware)],
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        answer = await client.get("/accounts/p-1", headers={"traceparent": PARENT})

    (span,) = exporter.get_finished_spans()
    assert answer.status_code == 404
    assert span.name == "GET /accounts/{user_id}"
    assert dict(span.attributes or {})["http.response.status_code"] == 404
    assert span.context.trace_id == int(PARENT.split("-")[1], 16)
