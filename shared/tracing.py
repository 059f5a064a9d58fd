"""OpenTelemetry tracing: one webhook is one trace, from the HTTP request to the outbox event.

The context travels as W3C Trace Context (``traceparent``, ``tracestate``): in HTTP headers, in
Kafka record headers (the command, the ledger's reply, the public events) and on the outbox row
between the ledger's transaction and the relay. Spans:

- the ingress: one SERVER span per webhook (``http_span``); the operator API: one per request
  (``TracingMiddleware``);
- ``shared.kafka_rpc``: one PRODUCER span per command sent and awaited (``producer_span``);
- the ledger: one CONSUMER span per command decided, with the decision's outcome
  (``services/ledger/tracing.py``);
- the relay: one PRODUCER span per public event, a child of the command's context.

Off by default: nothing is installed until ``configure_tracing`` finds an exporter in
``OTEL_TRACES_EXPORTER`` (``otlp`` or ``console``; unset or ``none``: off; ``OTEL_SDK_DISABLED=true``
wins). The other standard variables apply as the SDK reads them (``OTEL_SERVICE_NAME``,
``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_TRACES_SAMPLER``, ``OTEL_EXPORTER_OTLP_*``, ``OTEL_BSP_*``).
While off, every helper here returns at its first ``if``: no span object, no header written,
except that a context that arrived with a message is passed on unchanged (``pass_on``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Final

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SpanExporter,
)
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from starlette.types import ASGIApp, Receive, Scope, Send

from shared.response_status import ResponseStatus

TRACEPARENT: Final = "traceparent"
TRACESTATE: Final = "tracestate"
TRACE_HEADERS: Final = (TRACEPARENT, TRACESTATE)

KafkaHeaders = Iterable[tuple[str, bytes]]

_propagator: Final = TraceContextTextMapPropagator()
_tracer: trace.Tracer | None = None


def install(provider: trace.TracerProvider | None) -> None:
    """Trace through ``provider`` from now on (``None``: tracing off). Tests install their own."""
    global _tracer  # noqa: PLW0603 - one switch for the process, set by the composition root
    _tracer = None if provider is None else provider.get_tracer("hypeledger")


def enabled() -> bool:
    return _tracer is not None


def configure_tracing(service: str) -> TracerProvider | None:
    """Install a provider exporting as the ``OTEL_*`` variables say; None when tracing is off.

    ``service`` names the resource unless ``OTEL_SERVICE_NAME`` does. Call ``shutdown()`` on the
    returned provider when the service stops, so the last spans are exported.
    """
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    names = [n.strip().lower() for n in os.environ.get("OTEL_TRACES_EXPORTER", "").split(",")]
    exporters = [_exporter(name) for name in names if name and name != "none"]
    if not exporters:
        return None
    attributes = {} if os.environ.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: service}
    provider = TracerProvider(resource=Resource.create(attributes))
    for exporter in exporters:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    install(provider)
    return provider


def _exporter(name: str) -> SpanExporter:
    if name == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # noqa: PLC0415
            OTLPSpanExporter,
        )

        return OTLPSpanExporter()
    if name == "console":
        return ConsoleSpanExporter()
    raise ValueError(f"OTEL_TRACES_EXPORTER: {name!r} is not one of otlp, console, none")


# -- carriers ----------------------------------------------------------------------------------


def context_of(carrier: Mapping[str, str]) -> Context:
    """The context a W3C carrier (HTTP headers, decoded Kafka headers) names."""
    return _propagator.extract(carrier)


def kafka_carrier(headers: KafkaHeaders | None) -> dict[str, str]:
    """The trace headers of a Kafka record, decoded (no others)."""
    return {
        name: value.decode("latin-1")
        for name, value in headers or ()
        if name in TRACE_HEADERS and value is not None
    }


def kafka_headers(span: Span) -> list[tuple[str, bytes]]:
    """``span``'s context as Kafka record headers."""
    carrier: dict[str, str] = {}
    _propagator.inject(carrier, trace.set_span_in_context(span))
    return [(name, value.encode("latin-1")) for name, value in carrier.items()]


def pass_on(carrier: Mapping[str, str], span: Span | None) -> list[tuple[str, bytes]]:
    """The headers to send on: ``span``'s context when it records, else the one received."""
    if span is not None and span.get_span_context().is_valid:
        return kafka_headers(span)
    return [(name, value.encode("latin-1")) for name, value in carrier.items()]


# -- spans -------------------------------------------------------------------------------------


class HttpSpan:
    """A SERVER span of one HTTP request; ``finish(status)`` records the answer and ends it."""

    __slots__ = ("span",)

    def __init__(self, span: Span | None) -> None:
        self.span = span

    def set(self, name: str, value: str | int | bool) -> None:
        if self.span is not None:
            self.span.set_attribute(name, value)

    def finish(self, status: int) -> None:
        span = self.span
        if span is None:
            return
        span.set_attribute("http.response.status_code", status)
        if status >= 500:
            span.set_status(Status(StatusCode.ERROR))
        span.end()


_OFF: Final = HttpSpan(None)


def http_span(method: str, route: str, headers: Mapping[str, str]) -> HttpSpan:
    """Start the SERVER span of a request to ``route`` (its parent: the request's own headers)."""
    tracer = _tracer
    if tracer is None:
        return _OFF
    span = tracer.start_span(
        f"{method} {route}",
        context=context_of(headers),
        kind=SpanKind.SERVER,
        attributes={"http.request.method": method, "http.route": route},
    )
    return HttpSpan(span)


_NOTHING: Final = nullcontext()


def current(span: HttpSpan) -> AbstractContextManager[object]:
    """Make ``span`` the current span (its children parent to it) for the ``with`` body."""
    if span.span is None:
        return _NOTHING
    return trace.use_span(span.span, end_on_exit=False)


@contextmanager
def outgoing(name: str, kind: SpanKind, attributes: Mapping[str, str]) -> Iterator[dict[str, str]]:
    """A child of the current span for a call out (``kind`` PRODUCER or CLIENT), current for the
    ``with`` body; yields its context as W3C headers (none when tracing is off)."""
    tracer = _tracer
    if tracer is None:
        yield {}
        return
    with tracer.start_as_current_span(name, kind=kind, attributes=attributes):
        carrier: dict[str, str] = {}
        _propagator.inject(carrier)
        yield carrier


_NO_HEADERS: Final[AbstractContextManager[list[tuple[str, bytes]]]] = nullcontext([])


def producer_span(topic: str) -> AbstractContextManager[list[tuple[str, bytes]]]:
    """A PRODUCER span sending to ``topic``, current for the ``with`` body; yields its context
    as Kafka record headers (none when tracing is off)."""
    if _tracer is None:
        return _NO_HEADERS
    return _producer_span(topic)


@contextmanager
def _producer_span(topic: str) -> Iterator[list[tuple[str, bytes]]]:
    attributes = {"messaging.system": "kafka", "messaging.destination.name": topic}
    with outgoing(f"{topic} send", SpanKind.PRODUCER, attributes) as carrier:
        yield [(name, value.encode("latin-1")) for name, value in carrier.items()]


def start_span(
    name: str,
    carrier: Mapping[str, str],
    kind: SpanKind,
    attributes: Mapping[str, str | int | bool],
    start_time_ns: int | None = None,
) -> Span | None:
    """A span whose parent is ``carrier``'s context; None when tracing is off."""
    tracer = _tracer
    if tracer is None:
        return None
    return tracer.start_span(
        name,
        context=context_of(carrier),
        kind=kind,
        attributes=dict(attributes),
        start_time=start_time_ns,
    )


class TracingMiddleware:
    """ASGI middleware: a SERVER span per HTTP request, named after the route that answered."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if _tracer is None or scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        span = http_span(scope["method"], scope["path"], headers)
        answered = ResponseStatus(send)
        try:
            with current(span):
                await self.app(scope, receive, answered)
        finally:
            route = getattr(scope.get("route"), "path", None)
            if route is not None and span.span is not None:
                span.span.update_name(f"{scope['method']} {route}")
                span.set("http.route", route)
            span.finish(answered.status)
