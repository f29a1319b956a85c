"""One order, one trace: the W3C trace context crosses the four services through Kafka and the outbox.

The services run with ``OTEL_EXPORTER_OTLP_ENDPOINT`` pointing at a small OTLP/HTTP receiver in this
test (the collector's protobuf request, decoded with ``opentelemetry-proto``). The demo scenario is
played; the backordered order's trace must link, parent to child,

    orders: handle PlaceOrder → publish OrderPlaced
    → inventory: handle OrderPlaced → publish StockAllocated
    → orders: handle StockAllocated → publish OrderAccepted
    → notifications: handle OrderAccepted → publish NotificationSent

with SQL statement spans under the handlers. The hops and their durations are printed (``-s``).

On the same stack, after the scenario: every metric the Grafana dashboard and the alert rules query is one
the running services export (scraped from their ``/metrics``).
"""

from __future__ import annotations

import asyncio
import gzip
import json
import re
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import yaml
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from devstack.client import PlatformClient
from devstack.scenario import Scenario
from devstack.stack import Stack
from tests.deploy.tools import DEPLOY

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class ReceivedSpan:
    service: str
    trace_id: str
    span_id: str
    parent_id: str
    name: str
    kind: int
    start_ns: int
    end_ns: int
    attributes: dict[str, Any]
    links: tuple[str, ...] = ()

    @property
    def ms(self) -> float:
        return (self.end_ns - self.start_ns) / 1e6


class OtlpReceiver:
    """POST /v1/traces (OTLP/HTTP, protobuf): every span received, with its service's name."""

    def __init__(self) -> None:
        self.spans: list[ReceivedSpan] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                receiver.add(request)
                reply = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, name="otlp-receiver", daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def add(self, request: ExportTraceServiceRequest) -> None:
        received = []
        for resource_spans in request.resource_spans:
            resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for s in scope_spans.spans:
                    attributes = {a.key: _value(a.value) for a in s.attributes}
                    received.append(ReceivedSpan(resource.get("service.name", "?"), s.trace_id.hex(), s.span_id.hex(),
                                                 s.parent_span_id.hex(), s.name, s.kind, s.start_time_unix_nano,
                                                 s.end_time_unix_nano, attributes,
                                                 tuple(link.span_id.hex() for link in s.links)))
        with self.lock:
            self.spans += received

    def snapshot(self) -> list[ReceivedSpan]:
        with self.lock:
            return list(self.spans)


def _value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None


@pytest.fixture(scope="module")
def receiver() -> Iterator[OtlpReceiver]:
    otlp = OtlpReceiver()
    otlp.thread.start()
    try:
        yield otlp
    finally:
        otlp.server.shutdown()
        otlp.server.server_close()


@pytest.fixture(scope="module", autouse=True)
def platform(stack: Stack, receiver: OtlpReceiver) -> Iterator[Stack]:
    stack.service_env_extra.update({
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "200",  # export within a fraction of a second, not every 5 s
    })
    stack.start_all()
    yield stack


#: the backordered order's path: (service, span) from the command to the notification
CHAIN = [
    ("orders", "handle PlaceOrder"), ("orders", "publish OrderPlaced"),
    ("inventory", "handle OrderPlaced"), ("inventory", "publish StockAllocated"),
    ("orders", "handle StockAllocated"), ("orders", "publish OrderAccepted"),
    ("notifications", "handle OrderAccepted"), ("notifications", "publish NotificationSent"),
]


async def test_one_trace_links_the_backordered_order_across_the_services(
        stack: Stack, client: PlatformClient, receiver: OtlpReceiver) -> None:
    result = await Scenario(client, stack.mail_dir).run()
    assert result.ok, result.failure
    order_id = result.ids["order_backorder"]
    accepted = next(o for o in client.matching(lambda o: o.type == "OrderAccepted")
                    if o.payload["order_id"] == order_id)

    chain: list[ReceivedSpan] = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        chain = _chain_to(receiver.snapshot(), str(accepted.value["event_id"]))
        if [(s.service, s.name) for s in chain] == CHAIN:
            break
        await asyncio.sleep(0.3)
    spans = receiver.snapshot()
    print(_describe(chain, spans))
    assert [(s.service, s.name) for s in chain] == CHAIN, _describe(chain, spans)
    assert len({s.trace_id for s in chain}) == 1
    assert all(s.trace_id == chain[0].trace_id for s in chain)
    # each handler's SQL statements are spans of their own: its children, or, when a batch handler ran
    # several messages at once, the children of the run's span, which links to each message's
    for handler in (s for s in chain if s.name.startswith("handle ")):
        statements = _statements(spans, handler)  # a run of several: its span has a trace of its own
        assert statements, f"no SQL span under {handler.service}: {handler.name}"
    # no order id is an attribute a span's name depends on: names stay bounded
    assert all(order_id not in s.name for s in spans)


def _chain_to(spans: list[ReceivedSpan], accepted_event_id: str) -> list[ReceivedSpan]:
    """From the trace's root down to the NotificationSent published for the backordered OrderAccepted."""
    by_id = {s.span_id: s for s in spans}
    handled = [s for s in spans if s.name == "handle OrderAccepted" and s.service == "notifications"
               and s.attributes.get("messaging.message.id") == accepted_event_id]
    if not handled:
        return []
    sent = [s for s in spans if s.parent_id == handled[0].span_id and s.name == "publish NotificationSent"]
    chain = [sent[0]] if sent else [handled[0]]
    while chain[0].parent_id and chain[0].parent_id in by_id:
        chain.insert(0, by_id[chain[0].parent_id])
    return chain


def _statements(spans: list[ReceivedSpan], handler: ReceivedSpan) -> list[ReceivedSpan]:
    runs = {handler.span_id} | {s.span_id for s in spans if handler.span_id in s.links}
    return [s for s in spans if s.parent_id in runs and s.attributes.get("db.system")]


def _describe(chain: list[ReceivedSpan], spans: list[ReceivedSpan]) -> str:
    if not chain:
        names = sorted({(s.service, s.name) for s in spans})
        return f"no chain found among {len(spans)} spans: {names[:40]}"
    origin = chain[0].start_ns
    lines = [f"trace {chain[0].trace_id} ({len([s for s in spans if s.trace_id == chain[0].trace_id])} spans)"]
    for s in chain:
        sql = _statements(spans, s)
        lines.append(f"  +{(s.start_ns - origin) / 1e6:8.1f} ms  {s.ms:7.1f} ms  {s.service:13} {s.name}"
                     + (f"  ({len(sql)} SQL, {sum(c.ms for c in sql):.1f} ms)" if sql else ""))
    return "\n".join(lines)


def _queried_metrics() -> dict[str, set[str]]:
    """metric name -> where it is queried (dashboard panels, alert rules)."""
    exprs: list[tuple[str, str]] = []
    dashboard = json.loads((DEPLOY / "grafana" / "backorder-dashboard.json").read_text())
    exprs += [(f"dashboard: {p['title']}", t["expr"]) for p in dashboard["panels"] for t in p.get("targets", [])]
    rules = yaml.safe_load((DEPLOY / "prometheus" / "backorder-alerts.yaml").read_text())
    exprs += [(f"alert {r['alert']}", r["expr"]) for g in rules["groups"] for r in g["rules"]]
    named: dict[str, set[str]] = {}
    for where, expr in exprs:
        for name in re.findall(r"\b(backorder_[a-z_]+)\b", expr):
            named.setdefault(name, set()).add(where)
    return named


def _exported(text: str) -> tuple[set[str], set[str]]:
    """The names a query may use (families from ``# TYPE``, with a histogram's _bucket/_sum/_count), and the
    names that have samples."""
    names, sampled = set(), set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(maxsplit=3)
            names.add(name)
            if kind == "histogram":
                names |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
        elif line and not line.startswith("#"):
            sampled.add(re.split(r"[{ ]", line, maxsplit=1)[0])
    return names | sampled, sampled


async def test_every_metric_the_dashboard_and_the_alerts_query_is_exported(stack: Stack) -> None:
    exported: set[str] = set()
    sampled: set[str] = set()
    for service in stack.services.values():
        with urllib.request.urlopen(f"{service.url}/metrics", timeout=5) as response:  # noqa: ASYNC210 - a test
            names, samples = _exported(response.read().decode())
        exported |= names
        sampled |= samples
    queried = _queried_metrics()
    assert len(queried) >= 15, sorted(queried)
    missing = {name: sorted(where) for name, where in queried.items() if name not in exported}
    assert not missing, f"queried but not exported by any service: {missing}"
    # the new families have samples after the scenario, not only their HELP lines
    for sample in ("backorder_handler_duration_seconds_bucket", "backorder_order_decision_seconds_bucket",
                   "backorder_consumer_lag_records", "backorder_outbox_publish_seconds_bucket"):
        assert sample in sampled, sample
