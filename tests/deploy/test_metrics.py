"""The metrics the issue asks for are defined, and the runbook names only metrics that exist."""

from __future__ import annotations

import re

from prometheus_client import Counter, Gauge, Histogram

from shared.observability import metrics
from tests.deploy.tools import ROOT


def test_the_operational_metrics_are_defined() -> None:
    expected = {
        metrics.MESSAGES_HANDLED: (Counter, ("consumer", "topic", "type", "outcome")),  # handled/failed per topic
        metrics.HANDLER_LATENCY: (Histogram, ("consumer",)),
        metrics.OUTBOX_BACKLOG: (Gauge, ()),
        metrics.OUTBOX_OLDEST_AGE: (Gauge, ()),
        metrics.DEAD_LETTERED: (Counter, ("topic", "reason")),
        metrics.SMTP_SEND_FAILURES: (Counter, ("reason",)),
    }
    for metric, (kind, labels) in expected.items():
        assert isinstance(metric, kind)
        assert tuple(metric._labelnames) == labels


def test_the_runbook_names_only_defined_metrics() -> None:
    defined = set()
    for path in [ROOT / "shared/observability/metrics.py", *ROOT.glob("services/*/metrics.py")]:
        defined |= set(re.findall(r'"(backorder_[a-z_]+)"', path.read_text()))
    named = set(re.findall(r"\b(backorder_[a-z_]+)", (ROOT / "docs/operations.md").read_text()))
    assert named, "the runbook's monitoring table"
    assert named <= defined, f"the runbook names undefined metrics: {sorted(named - defined)}"
