"""The metrics the issue asks for are defined, and the runbook names only metrics that exist."""

from __future__ import annotations

import re

import pytest
from prometheus_client import REGISTRY
from prometheus_client.metrics import MetricWrapperBase

from services.orders.kpis import KPI_NAMES
from shared.observability import metrics
from tests.deploy.tools import ROOT

#: what a scrape must show for each operational metric the issue asks for: the sample name queries use,
#: its type and its label names (handled/failed per topic, handler latency, outbox backlog and age,
#: dead letters, SMTP failures)
OPERATIONAL = [
    (metrics.MESSAGES_HANDLED, "backorder_messages_handled_total", "counter", ("consumer", "topic", "type", "outcome")),
    (metrics.HANDLER_LATENCY, "backorder_handler_batch_seconds_bucket", "histogram", ("consumer",)),
    (metrics.OUTBOX_BACKLOG, "backorder_outbox_backlog", "gauge", ()),
    (metrics.OUTBOX_OLDEST_AGE, "backorder_outbox_oldest_age_seconds", "gauge", ()),
    (metrics.OUTBOX_SEND_FAILURES, "backorder_outbox_send_failures_total", "counter", ("topic", "error")),
    (metrics.DEAD_LETTERED, "backorder_dead_lettered_total", "counter", ("topic", "reason")),
    (metrics.SMTP_SEND_FAILURES, "backorder_smtp_send_failures_total", "counter", ("reason",)),
]


@pytest.mark.parametrize(("metric", "sample", "kind", "labels"), OPERATIONAL, ids=[o[1] for o in OPERATIONAL])
def test_the_operational_metrics_are_scraped_with_their_names_types_and_labels(
        metric: MetricWrapperBase, sample: str, kind: str, labels: tuple[str, ...]) -> None:
    values = {label: "probe" for label in labels}
    if labels:
        metric.labels(**values)  # refused unless these are exactly its label names
    try:
        scraped = [(family.type, s.labels) for family in REGISTRY.collect() for s in family.samples
                   if s.name == sample]
        assert (kind, values) in [(k, {n: v for n, v in got.items() if n != "le"}) for k, got in scraped]
    finally:
        if labels:
            metric.remove(*values.values())


def test_the_runbook_names_only_defined_metrics() -> None:
    defined = set()
    for path in [ROOT / "shared/observability/metrics.py", *ROOT.glob("services/*/metrics.py")]:
        defined |= set(re.findall(r'"(backorder_[a-z_]+)"', path.read_text()))
    defined |= set(KPI_NAMES)  # the values of backorder_kpi's kpi label (backorder_rate, ...) are named too
    named = set(re.findall(r"\b(backorder_[a-z_]+)", (ROOT / "docs/operations.md").read_text()))
    assert named, "the runbook's monitoring table"
    assert named <= defined, f"the runbook names undefined metrics: {sorted(named - defined)}"
