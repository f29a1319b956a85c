"""Topic provisioning from the contract's topic table (embedded broker and dev clusters).

In production, topics are Strimzi ``KafkaTopic`` resources rendered from the same table
(``deploy/k8s``); services then run with ``KAFKA_PROVISION_TOPICS=false``.
"""

from __future__ import annotations

import os

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from shared.contract.topics import ALL_TOPICS, Topic
from shared.messaging.broker import build_security
from shared.settings import KafkaSettings


def topic_specs(partitions: int | None = None) -> list[tuple[str, int, dict[str, str]]]:
    specs: list[tuple[str, int, dict[str, str]]] = []
    for topic in ALL_TOPICS:
        specs.append((topic.name, partitions or topic.partitions, _config(topic)))
        specs.append((topic.dlq, 1, {"retention.ms": str(30 * 24 * 3600 * 1000)}))
    return specs


def _config(topic: Topic) -> dict[str, str]:
    return {"retention.ms": str(topic.retention_ms), "cleanup.policy": "delete"}


async def ensure_topics(settings: KafkaSettings, *, force: bool = False) -> list[str]:
    """Create the contract's topics that do not exist yet; return the ones created."""
    if not force and os.environ.get("KAFKA_PROVISION_TOPICS", "true").lower() in ("0", "false", "no"):
        return []
    security = build_security(settings)
    kwargs = {}
    if security is not None:
        kwargs["security_protocol"] = settings.security_protocol
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers, request_timeout_ms=10_000, **kwargs)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(name, num_partitions=n, replication_factor=1, topic_configs=config)
            for name, n, config in topic_specs(_partitions_override())
            if name not in existing
        ]
        if missing:
            try:
                await admin.create_topics(missing)
            except TopicAlreadyExistsError:
                pass  # another instance created them first
        return [t.name for t in missing]
    finally:
        await admin.close()


def _partitions_override() -> int | None:
    value = os.environ.get("KAFKA_TOPIC_PARTITIONS")
    return int(value) if value else None
