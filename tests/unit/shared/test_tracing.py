"""Tracing: the W3C context a record carries becomes the handler span's parent; what the handler emits carries
the handler span's context in its outbox headers; the relay's publish span continues it. Without an endpoint,
nothing is recorded and the outbox headers stay as they were."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from aiokafka import ConsumerRecord
from opentelemetry import propagate, trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from shared.cause import Cause
from shared.contract.rejections import CommandRejected
from shared.observability import tracing
from shared.persistence.uow import Emitter

_EXPORTER = InMemorySpanExporter()
_PROVIDER = TracerProvider()
_PROVIDER.add_span_processor(SimpleSpanProcessor(_EXPORTER))
_TRACER = _PROVIDER.get_tracer("test")


@pytest.fixture
def enabled(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    monkeypatch.setattr(tracing, "ENABLED", True)
    monkeypatch.setattr(tracing, "tracer", _TRACER)
    _EXPORTER.clear()
    yield _EXPORTER


def record(headers: list[tuple[str, bytes]], offset: int = 7) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord("orders.commands", 0, offset, 0, 0, None, b"{}", None, 0, 2, headers)


def upstream() -> tuple[list[tuple[str, bytes]], trace.SpanContext]:
    """The headers a record sent inside some other process's span carries."""
    with _TRACER.start_as_current_span("upstream") as span:
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
    return [(k, v.encode()) for k, v in carrier.items()], span.get_span_context()


def rejected() -> CommandRejected:
    return CommandRejected(command_id="c-1", command_type="PlaceOrder", reason="r", message="m")


def test_without_an_endpoint_nothing_is_recorded_and_rows_carry_no_context(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    assert not tracing.endpoint_configured() and not tracing.ENABLED
    headers, _ = upstream()
    emitter = Emitter("orders")
    with tracing.consuming(record(headers), "orders", "PlaceOrder", "m-1") as context:
        assert context is None
        with emitter.caused_by(Cause(uuid.uuid4(), uuid.uuid4())):
            emitter.emit("orders.events", rejected(), key="o-1")
    assert "traceparent" not in emitter.pending[0].headers


def test_the_standard_variables_turn_it_on_and_off() -> None:
    assert tracing.endpoint_configured({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"})
    assert tracing.endpoint_configured({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"})
    assert not tracing.endpoint_configured({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c", "OTEL_SDK_DISABLED": "true"})
    assert not tracing.endpoint_configured({})


def test_a_handled_message_continues_the_records_trace_and_its_events_continue_the_handler(
        enabled: InMemorySpanExporter) -> None:
    headers, parent = upstream()
    emitter, cause = Emitter("orders"), Cause(uuid.uuid4(), uuid.uuid4())
    with tracing.consuming(record(headers), "orders", "PlaceOrder", "m-1") as context, emitter.caused_by(cause):
        assert context is not None
        emitter.emit("orders.events", rejected(), key="o-1")
    handler = next(s for s in enabled.get_finished_spans() if s.name == "handle PlaceOrder")
    assert handler.kind == SpanKind.CONSUMER and handler.parent is not None
    assert (handler.context.trace_id, handler.parent.span_id) == (parent.trace_id, parent.span_id)
    assert handler.attributes is not None and handler.attributes["messaging.message.id"] == "m-1"
    stored = trace.get_current_span(propagate.extract(emitter.pending[0].headers)).get_span_context()
    assert (stored.trace_id, stored.span_id) == (handler.context.trace_id, handler.context.span_id)


def test_a_batch_handlers_run_gives_each_message_its_span_and_each_event_its_causes(
        enabled: InMemorySpanExporter) -> None:
    (first, a), (second, b) = upstream(), upstream()
    emitter = Emitter("orders")
    causes = [Cause(uuid.uuid4(), uuid.uuid4()), Cause(uuid.uuid4(), uuid.uuid4())]
    items = [(record(first, 1), "StockAllocated", "m-1"), (record(second, 2), "StockAllocated", "m-2")]
    with tracing.consuming_run(items, "orders") as contexts:
        for cause, context in zip(causes, contexts, strict=True):
            emitter.traces[cause.event_id] = context
        for cause in reversed(causes):  # a batch handler emits in its own order
            with emitter.caused_by(cause):
                emitter.emit("orders.events", rejected(), key="o")
    spans: dict[str, ReadableSpan] = {}
    for s in enabled.get_finished_spans():
        spans[s.attributes["messaging.message.id"] if s.attributes and "messaging.message.id" in s.attributes
              else s.name] = s
    assert spans["m-1"].context.trace_id == a.trace_id and spans["m-2"].context.trace_id == b.trace_id
    assert {link.context.span_id for link in spans["handle batch"].links} == \
        {spans["m-1"].context.span_id, spans["m-2"].context.span_id}
    carried = [trace.get_current_span(propagate.extract(r.headers)).get_span_context().span_id
               for r in emitter.pending]
    assert carried == [spans["m-2"].context.span_id, spans["m-1"].context.span_id]


def test_the_relays_publish_span_is_a_child_of_the_rows_context(enabled: InMemorySpanExporter) -> None:
    headers, parent = upstream()
    span = tracing.publishing("orders.events", "OrderPlaced", {k: v.decode() for k, v in headers}, 1_000)
    assert span is not None
    span.end()
    published = enabled.get_finished_spans()[-1]
    assert published.kind == SpanKind.PRODUCER and published.start_time == 1_000
    assert published.parent is not None and published.parent.span_id == parent.span_id
