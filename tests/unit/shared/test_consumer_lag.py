"""Consumer lag per group and partition: the high watermark the last fetch saw minus the group's position,
from aiokafka's public API; a partition given away stops being reported by this member."""

from __future__ import annotations

from aiokafka import TopicPartition
from prometheus_client import REGISTRY

from shared.messaging.group_consumer import GroupConsumer
from shared.settings import ServiceSettings

A, B, C = (TopicPartition("orders.events", p) for p in (0, 1, 2))


class FakeConsumer:
    def __init__(self) -> None:
        self.high = {A: 120, B: 40, C: None}  # C: nothing fetched from it yet
        self.positions = {A: 100, B: 40, C: 0}

    def assignment(self) -> set[TopicPartition]:
        return {A, B, C}

    def highwater(self, tp: TopicPartition) -> int | None:
        return self.high[tp]

    async def position(self, tp: TopicPartition) -> int:
        return self.positions[tp]


def lag(partition: int) -> float | None:
    return REGISTRY.get_sample_value("backorder_consumer_lag_records",
                                     {"consumer": "lag-test", "topic": "orders.events", "partition": str(partition)})


async def test_lag_is_reported_per_partition_and_forgotten_when_revoked() -> None:
    group = GroupConsumer(ServiceSettings(), ["orders.events"], group_id="lag-test", client_id="t",
                          handle=None, on_joined=lambda: None)  # type: ignore[arg-type]
    group.consumer = FakeConsumer()  # type: ignore[assignment]
    await group.report_lag()
    assert (lag(0), lag(1), lag(2)) == (20, 0, None)

    group.consumer.positions[A] = 120  # type: ignore[attr-defined]
    await group.report_lag(every_s=60)
    await group.report_lag(every_s=60)  # within the interval: not asked again
    assert lag(0) == 0
    group.consumer.positions[A] = 0  # type: ignore[attr-defined]
    await group.report_lag(every_s=60)
    assert lag(0) == 0

    group.forget_lag([A])
    assert (lag(0), lag(1)) == (None, 0)
