"""Topic provisioning from the contract's topic table (the dev stack, tests and dev clusters).

A service creates the topics it lacks once, at start, when ``KAFKA_PROVISION_TOPICS`` allows it. In
production, topics are Strimzi ``KafkaTopic`` resources rendered from the same table (``deploy/k8s``)
and services run with ``KAFKA_PROVISION_TOPICS=false``. Either way the brokers run with
``auto.create.topics.enable=false``: a client that looks up a topic never creates it with the
broker's defaults instead of the contract's partitions and retention.
"""

from __future__ import annotations

import asyncio
import os
import sys

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError, for_code

from shared.contract.topics import ALL_TOPICS, Topic
from shared.messaging.broker import aiokafka_security
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
    if not force and not provisioning_enabled():
        return []
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers, request_timeout_ms=10_000,
                                **aiokafka_security(settings))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        replication = _replication()
        # replicated: a write is acknowledged once two replicas hold it, and refused when fewer are in sync
        durability = {"min.insync.replicas": str(min(2, replication))} if replication > 1 else {}
        missing = [
            NewTopic(name, num_partitions=n, replication_factor=replication, topic_configs={**config, **durability})
            for name, n, config in topic_specs(_partitions_override())
            if name not in existing
        ]
        if missing:
            response = await admin.create_topics(missing)
            refused = [(topic, code) for topic, code, *_ in response.topic_errors
                       if code not in (0, TopicAlreadyExistsError.errno)]  # another instance was first
            if refused:
                raise for_code(refused[0][1])(f"topics not created: {refused}")
        return [t.name for t in missing]
    finally:
        await admin.close()


async def partitions_of(settings: KafkaSettings, topic: str) -> list[int]:
    """The partition ids of a topic as the cluster has them now (none when it has no such topic)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers, request_timeout_ms=10_000,
                                **aiokafka_security(settings))
    await admin.start()
    try:
        described = await admin.describe_topics([topic])
    finally:
        await admin.close()
    return sorted(p["partition"] for t in described if t["error_code"] == 0 for p in t["partitions"])


def provisioning_enabled() -> bool:
    return os.environ.get("KAFKA_PROVISION_TOPICS", "true").lower() not in ("0", "false", "no")


def _replication() -> int:
    return int(os.environ.get("KAFKA_TOPIC_REPLICATION", "1"))


def _partitions_override() -> int | None:
    value = os.environ.get("KAFKA_TOPIC_PARTITIONS")
    return int(value) if value else None


async def _provision(attempts: int = 60) -> list[str]:
    """Create the missing topics, waiting for the broker to come up (a compose one-shot or a CI step)."""
    settings = KafkaSettings()
    for attempt in range(1, attempts + 1):
        try:
            return await ensure_topics(settings, force=True)
        except Exception as exc:
            if attempt == attempts:
                raise
            print(f"kafka not ready ({exc!r}), retrying", file=sys.stderr, flush=True)
            await asyncio.sleep(min(5.0, 0.5 * attempt))
    return []


def main(argv: list[str] | None = None) -> int:
    """``python -m shared.messaging.topics [provision|list]``: create the contract's topics, or print the table."""
    args = list(sys.argv[1:] if argv is None else argv)
    command = args[0] if args else "provision"
    if command == "list":
        for name, partitions, config in topic_specs(_partitions_override()):
            print(f"{name}\tpartitions={partitions}\t" + " ".join(f"{k}={v}" for k, v in sorted(config.items())))
        return 0
    if command == "provision":
        created = asyncio.run(_provision())
        print(f"topics: created {len(created)}: {', '.join(created) or '-'}", flush=True)
        return 0
    print("usage: python -m shared.messaging.topics [provision|list]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
