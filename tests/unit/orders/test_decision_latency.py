"""The decision latency metric starts when the PlaceOrder entered Kafka, not when orders got round to it."""

from __future__ import annotations

import uuid
from datetime import timedelta

from prometheus_client import REGISTRY

from services.orders import batch_handlers, handlers
from shared.cause import Cause
from shared.messaging.decoding import Message
from tests.unit.orders.fakes import FakeUoW
from tests.unit.orders.test_handlers import PLACED, _allocated, _place, uow  # noqa: F401 - the fixture


def decided_seconds() -> tuple[float, float]:
    """(sum, count) of the accepted orders' decision latency so far."""
    labels = {"outcome": "accepted"}
    return (REGISTRY.get_sample_value("backorder_order_decision_seconds_sum", labels) or 0.0,
            REGISTRY.get_sample_value("backorder_order_decision_seconds_count", labels) or 0.0)


async def test_decision_latency_counts_the_time_placeorder_waited_in_kafka(uow: FakeUoW) -> None:  # noqa: F811
    queued = timedelta(seconds=42)  # the record entered Kafka 42 s before orders handled it
    cause = Cause(uuid.uuid4(), uuid.uuid4(), None, "PlaceOrder", PLACED - queued, PLACED - queued)
    await batch_handlers.place_orders([Message(_place("o-late"), cause)], uow)
    assert uow.orders.orders["o-late"].received_at == PLACED - queued
    before_sum, before_count = decided_seconds()
    await handlers.stock_allocated(_allocated("o-late"), uow)
    assert decided_seconds() == (before_sum, before_count)  # counted at commit, not before: a redone batch counts once
    uow.commit_done()
    after_sum, after_count = decided_seconds()
    assert after_count == before_count + 1
    assert after_sum - before_sum == queued.total_seconds()  # the fake clock has not moved since
