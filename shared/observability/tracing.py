"""Distributed tracing with OpenTelemetry: one trace per flow, across the four services.

The W3C trace context travels with each message, through the outbox:

* the consumer runtime extracts it from a record's headers and handles the message in a span that is
  its child (``consuming``; a batch handler's run gets one span per message, ``consuming_run``);
* a message emitted while handling one is staged with the context of that message's span in the
  outbox row's ``headers`` (``Emitter.emit`` calls ``inject``), so it continues the trace of the
  message that caused it, whichever process relays it and however late;
* the relay sends each row in a ``publish`` span, child of the context stored with the row, which
  starts at the row's ``created_at`` (the writing transaction's start: PostgreSQL's ``now()``) and ends at
  the broker's acknowledgement: the outbox's delay is seen hop by hop. The record carries that span's
  context on.

Propagation is OpenTelemetry's own (``opentelemetry.propagate``: W3C ``traceparent``/``tracestate``).
SQL statements get spans from ``opentelemetry-instrumentation-asyncpg``; a statement run outside any
span (the relay's polls, the watches) is not sampled, so traces are flows, not background noise.

Spans are exported (OTLP over HTTP, batched) only when ``OTEL_EXPORTER_OTLP_ENDPOINT`` or
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` is set (the exporter reads the standard ``OTEL_*`` variables),
and ``OTEL_SDK_DISABLED`` is not true. Otherwise nothing is configured: the API's tracer is a no-op,
and the runtime does not even look at the headers (``ENABLED`` is False).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator, Mapping, MutableMapping, Sequence
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import Getter
from opentelemetry.trace import Link, Span, SpanKind

#: whether spans are recorded and exported (``configure_tracing`` found an endpoint)
ENABLED = False

tracer = trace.get_tracer("backorder")

Headers = Sequence[tuple[str, bytes]]


class _RecordHeaders(Getter[Headers]):
    """Reads a Kafka record's headers (``(name, bytes)`` pairs) for the propagator."""

    def get(self, carrier: Headers, key: str) -> list[str] | None:
        values = [v.decode("utf-8", "replace") for k, v in carrier or () if k == key and v is not None]
        return values or None

    def keys(self, carrier: Headers) -> list[str]:
        return [k for k, _ in carrier or ()]


_RECORD_HEADERS = _RecordHeaders()


def endpoint_configured(environ: Mapping[str, str] = os.environ) -> bool:
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    return bool(environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


def configure_tracing(service: str, version: str = "") -> bool:
    """Export spans over OTLP/HTTP when an endpoint is configured; return whether tracing is on."""
    global ENABLED
    if ENABLED or not endpoint_configured():
        return ENABLED
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.sampling import ParentBased

    attributes = {"service.name": os.environ.get("OTEL_SERVICE_NAME") or service}
    if version:
        attributes["service.version"] = version
    provider = TracerProvider(resource=Resource.create(attributes), sampler=ParentBased(root=_flow_roots()))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    AsyncPGInstrumentor().instrument(tracer_provider=provider)
    ENABLED = True
    return True


def shutdown() -> None:
    """Export what is left (at a service's stop)."""
    provider = trace.get_tracer_provider()
    if ENABLED and hasattr(provider, "shutdown"):
        provider.shutdown()


def _flow_roots() -> Any:
    from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult

    class FlowRoots(Sampler):  # type: ignore[misc]
        """A trace starts with a message handled or a job, never with a bare SQL statement (kind CLIENT)."""

        def should_sample(self, parent_context: Any, trace_id: int, name: str, kind: Any = None,
                          attributes: Any = None, links: Any = None, trace_state: Any = None) -> SamplingResult:
            decision = Decision.DROP if kind == SpanKind.CLIENT else Decision.RECORD_AND_SAMPLE
            return SamplingResult(decision, attributes if decision != Decision.DROP else None)

        def get_description(self) -> str:
            return "FlowRoots"

    return FlowRoots()


def extract_record(headers: Headers | None) -> Context:
    """The trace context a Kafka record carries (an empty one when it carries none)."""
    return propagate.extract(headers or (), getter=_RECORD_HEADERS)


def inject(carrier: MutableMapping[str, str], context: Context | None = None) -> None:
    """Write ``context`` (else the current one) into ``carrier`` (an outbox row's headers)."""
    if ENABLED:
        propagate.inject(carrier, context=context)


def _attributes(record: Any, group: str, message_type: str, message_id: str) -> dict[str, Any]:
    return {
        "messaging.system": "kafka",
        "messaging.operation.type": "process",
        "messaging.destination.name": record.topic,
        "messaging.destination.partition.id": str(record.partition),
        "messaging.kafka.offset": record.offset,
        "messaging.consumer.group.name": group,
        "messaging.message.id": message_id,
        "backorder.message_type": message_type,
    }


@contextlib.contextmanager
def consuming(record: Any, group: str, message_type: str, message_id: str) -> Iterator[Context | None]:
    """Handle one message in a span, child of the record's trace context; yields that span's context."""
    if not ENABLED:
        yield None
        return
    with tracer.start_as_current_span(
        f"handle {message_type}", context=extract_record(record.headers), kind=SpanKind.CONSUMER,
        attributes=_attributes(record, group, message_type, message_id),
    ) as span:
        yield trace.set_span_in_context(span)


@contextlib.contextmanager
def consuming_run(items: Iterable[tuple[Any, str, str]], group: str) -> Iterator[list[Context]]:
    """A batch handler's run: a span per message (child of its record's context), all open while the
    run is handled. Yields their contexts, in order. With one message its span is the current one (the
    SQL statements are its children); with several, a ``handle batch`` span linked to them is."""
    if not ENABLED:
        yield []
        return
    spans: list[Span] = []
    for record, message_type, message_id in items:
        spans.append(tracer.start_span(
            f"handle {message_type}", context=extract_record(record.headers), kind=SpanKind.CONSUMER,
            attributes=_attributes(record, group, message_type, message_id)))
    contexts = [trace.set_span_in_context(span) for span in spans]
    batch: Span | None = None
    if len(spans) == 1:
        current = contexts[0]
    else:
        batch = tracer.start_span("handle batch", context=Context(), kind=SpanKind.INTERNAL,
                                  links=[Link(span.get_span_context()) for span in spans],
                                  attributes={"messaging.batch.message_count": len(spans)})
        current = trace.set_span_in_context(batch)
    token = otel_context.attach(current)
    try:
        yield contexts
    except BaseException as exc:
        for span in spans:
            span.record_exception(exc)
        raise
    finally:
        otel_context.detach(token)
        if batch is not None:
            batch.end()
        for span in spans:
            span.end()


def publishing(topic: str, message_type: str, headers: Mapping[str, Any], created_at_ns: int | None) -> Span | None:
    """The relay's span for one outbox row: a child of the context stored with the row, started when the
    row was written. The caller injects its context into the record's headers and ends it at the ack."""
    if not ENABLED:
        return None
    parent = propagate.extract({k: str(v) for k, v in headers.items()})
    return tracer.start_span(f"publish {message_type}", context=parent, kind=SpanKind.PRODUCER,
                             start_time=created_at_ns,
                             attributes={"messaging.system": "kafka", "messaging.operation.type": "send",
                                         "messaging.destination.name": topic,
                                         "backorder.message_type": message_type})
