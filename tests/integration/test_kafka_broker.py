"""The dev stack's Apache Kafka broker, and what the services ask of it: an idempotent producer and admin calls.

The proof is what the broker stored, read with Kafka's own ``DumpLogSegments``: an idempotent
producer's record batches carry the producer id the broker gave it and consecutive sequence
numbers (which is how the broker drops a batch the client sent twice); a plain producer's carry
producer id -1.
"""

from __future__ import annotations

import re
import time
import uuid

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from devstack.broker import KafkaCluster
from devstack.processes import free_port
from devstack.stack import Stack
from shared.messaging.broker import build_broker
from shared.messaging.topics import partitions_of
from shared.settings import KafkaSettings

pytestmark = pytest.mark.integration

BATCH = re.compile(r"baseSequence: (-?\d+) lastSequence: (-?\d+) producerId: (-?\d+) producerEpoch: (-?\d+)")


@pytest.fixture
def own_cluster(kafka_cluster: KafkaCluster | None) -> KafkaCluster:
    if kafka_cluster is None:
        pytest.skip("reads the log segments of the session's own broker (KAFKA_BOOTSTRAP_SERVERS is set)")
    return kafka_cluster


async def new_topic(bootstrap: str) -> str:
    name = f"t.idempotence.{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        response = await admin.create_topics([NewTopic(name, num_partitions=1, replication_factor=1)])
        assert response.topic_errors[0][1] == 0, response.topic_errors
    finally:
        await admin.close()
    return name


async def publish_with_the_services_producer(settings: KafkaSettings, topic: str, count: int) -> None:
    broker = build_broker(settings, client_id="idempotence-test")
    publisher = broker.publisher(topic)
    await broker.start()
    try:
        for i in range(count):
            await publisher.publish(f"m{i}".encode(), key=b"k")  # one batch each: waits for its ack
    finally:
        await broker.stop()


def stored_batches(cluster: KafkaCluster, topic: str) -> list[tuple[int, int, int, int]]:
    return [tuple(map(int, m.groups())) for m in BATCH.finditer(cluster.nodes[0].dump_log(topic))]  # type: ignore[misc]


async def test_the_services_producer_is_idempotent_by_default_on_the_real_broker(own_cluster: KafkaCluster) -> None:
    settings = KafkaSettings(bootstrap_servers=own_cluster.bootstrap)
    assert settings.enable_idempotence and settings.acks == "all"
    topic = await new_topic(own_cluster.bootstrap)
    await publish_with_the_services_producer(settings, topic, 3)
    batches = stored_batches(own_cluster, topic)
    assert len(batches) == 3, batches
    assert {producer_id for _, _, producer_id, _ in batches} != {-1}, "no producer id: not idempotent"
    assert len({producer_id for _, _, producer_id, _ in batches}) == 1
    assert [first for first, _, _, _ in batches] == [0, 1, 2]  # the sequence the broker checks for duplicates


async def test_a_producer_without_idempotence_stores_no_producer_id(own_cluster: KafkaCluster) -> None:
    """The control: the check above can tell the two apart."""
    settings = KafkaSettings(bootstrap_servers=own_cluster.bootstrap, enable_idempotence=False)
    topic = await new_topic(own_cluster.bootstrap)
    await publish_with_the_services_producer(settings, topic, 2)
    assert [producer_id for _, _, producer_id, _ in stored_batches(own_cluster, topic)] == [-1, -1]


async def test_the_broker_never_creates_a_topic_a_client_looks_up(kafka_server: str) -> None:
    missing = f"t.never.created.{uuid.uuid4().hex[:8]}"
    settings = KafkaSettings(bootstrap_servers=kafka_server)
    assert await partitions_of(settings, missing) == []  # a metadata request that names it ...
    assert await partitions_of(settings, missing) == []  # ... did not create it


def test_a_service_waiting_for_an_absent_broker_stops_at_once_on_sigterm(stack: Stack) -> None:
    nobody = f"127.0.0.1:{free_port()}"
    service = stack.start_service("catalog", extra_env={"KAFKA_BOOTSTRAP_SERVERS": nobody})
    deadline = time.monotonic() + 60
    while "kafka_not_ready" not in service.log.read_text(errors="replace"):
        assert service.proc.poll() is None and time.monotonic() < deadline, "never tried to connect"
        time.sleep(0.1)
    started = time.monotonic()
    code = stack.stop_service("catalog")
    assert code == 0 and time.monotonic() - started < 10, "the stop waited for the broker"
