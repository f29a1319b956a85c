"""The producer is renewed only after a failure that spent it, and until a new one has started."""

from __future__ import annotations

from aiokafka.errors import KafkaConnectionError, OutOfOrderSequenceNumber
from structlog.testing import capture_logs

from devstack.processes import free_port
from shared.contract.topics import ORDERS_EVENTS_TOPIC
from shared.messaging.publishers import build_publishing
from shared.settings import KafkaSettings


async def test_a_spent_producer_is_renewed_until_a_new_one_starts_and_other_failures_leave_it_alone() -> None:
    nobody = f"127.0.0.1:{free_port()}"  # no broker: starting the new producer fails
    _, _, renew = build_publishing(KafkaSettings(bootstrap_servers=nobody), client_id="t",
                                   publishes=[ORDERS_EVENTS_TOPIC], dead_letters=[])
    with capture_logs() as logs:
        assert await renew(KafkaConnectionError("the broker is away")) is False  # not the producer's fault
        assert [e["event"] for e in logs] == []
        assert await renew(OutOfOrderSequenceNumber("sequence spent")) is False  # renewal tried, no broker
        assert await renew(KafkaConnectionError("the broker is away")) is False  # still spent: tried again
    assert [e["event"] for e in logs] == ["producer_renewing", "producer_renewal_failed"] * 2
