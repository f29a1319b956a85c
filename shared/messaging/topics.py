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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

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


# --------------------------------------------------------------------------- Strimzi resources and the CLI entry

#: The Strimzi API the rendered ``KafkaTopic`` resources use (``v1``: Strimzi 0.49 and later, required by 1.0).
STRIMZI_API_VERSION = "kafka.strimzi.io/v1"


def kafka_topic_resources(
    cluster: str, *, replicas: int, min_insync_replicas: int, labels: dict[str, str] | None = None
) -> list[dict[str, object]]:
    """The Strimzi ``KafkaTopic`` resources of the contract's topics (DLQs included), from ``topic_specs``.

    Rendered into ``deploy/k8s`` by ``deploy/render_topics.py``; a test keeps the committed files current.
    """
    resources: list[dict[str, object]] = []
    for name, partitions, config in topic_specs():
        resources.append({
            "apiVersion": STRIMZI_API_VERSION,
            "kind": "KafkaTopic",
            "metadata": {
                "name": name.replace(".", "-"),
                "labels": {"strimzi.io/cluster": cluster, **(labels or {})},
            },
            "spec": {
                "topicName": name,
                "partitions": partitions,
                "replicas": replicas,
                "config": {**{k: _config_value(v) for k, v in config.items()},
                           "min.insync.replicas": min_insync_replicas},
            },
        })
    return resources


# --------------------------------------------------------------------------- who may touch which topic

#: the operator CLI's Kafka user (``backorder`` commands, ``dlq list``/``replay``)
OPERATOR_USER = "operator"
#: KEDA's Kafka user: it reads the consumer groups' lag, nothing else
KEDA_USER = "keda"


class _Subscribes(Protocol):
    @property
    def topic(self) -> Topic: ...


class Consumes(Protocol):
    """What the access table needs of a service: a ``ServiceDefinition`` has it."""

    @property
    def name(self) -> str: ...
    @property
    def group_id(self) -> str: ...
    @property
    def publishes(self) -> Sequence[Topic]: ...
    @property
    def subscriptions(self) -> Sequence[_Subscribes]: ...


@dataclass(frozen=True, order=True)
class Grant:
    """One allowed operation: Kafka's resource type, pattern type and operation names (as ``kafka-acls``)."""

    resource: str  # TOPIC, GROUP
    name: str
    operation: str  # READ, WRITE, DESCRIBE
    pattern: str = "LITERAL"


def kafka_access(services: Iterable[Consumes]) -> dict[str, list[Grant]]:
    """Kafka user -> what it may do, from the contract's topic table and what each service declares.

    * A service writes the topics it publishes, which the table says it owns, and the dead-letter topics of
      what it consumes (its consumer dead-letters there); it reads what it subscribes to, in its own group.
    * The operator CLI reads every topic (dead letters too), writes every command topic (``backorder``
      commands) and every source topic (``dlq replay`` puts a message back where it failed); it joins no group.
    * KEDA describes the topics and groups whose lag it scales on.
    """
    access: dict[str, list[Grant]] = {}
    keda: set[Grant] = set()
    for service in services:
        foreign = [t.name for t in service.publishes if t.owner != service.name]
        if foreign:
            raise ValueError(f"{service.name} publishes {foreign}, which the topic table gives to other owners")
        reads = sorted({s.topic.name for s in service.subscriptions})
        writes = sorted({t.name for t in service.publishes} | {s.topic.dlq for s in service.subscriptions})
        access[service.name] = sorted(
            [Grant("TOPIC", t, "READ") for t in reads] + [Grant("TOPIC", t, "WRITE") for t in writes]
            + [Grant("GROUP", service.group_id, "READ")])
        keda |= {Grant("TOPIC", t, "DESCRIBE") for t in reads} | {Grant("GROUP", service.group_id, "DESCRIBE")}
    every = [t.name for t in ALL_TOPICS] + [t.dlq for t in ALL_TOPICS]
    access[OPERATOR_USER] = sorted([Grant("TOPIC", t, "READ") for t in every]
                                   + [Grant("TOPIC", t.name, "WRITE") for t in ALL_TOPICS])
    access[KEDA_USER] = sorted(keda)
    return access


def kafka_user_resources(cluster: str, access: dict[str, list[Grant]], *,
                         labels: dict[str, str] | None = None) -> list[dict[str, object]]:
    """The Strimzi ``KafkaUser`` resources (SCRAM-SHA-512, simple authorisation) of ``kafka_access``."""
    resources: list[dict[str, object]] = []
    for user, grants in access.items():
        by_resource: dict[tuple[str, str, str], list[str]] = {}
        for grant in grants:
            by_resource.setdefault((grant.resource, grant.name, grant.pattern), []).append(grant.operation)
        acls = [{"resource": {"type": kind.lower(), "name": name, "patternType": pattern.lower()},
                 "operations": sorted(op.title() for op in operations), "host": "*"}
                for (kind, name, pattern), operations in sorted(by_resource.items())]
        resources.append({
            "apiVersion": STRIMZI_API_VERSION,
            "kind": "KafkaUser",
            "metadata": {"name": user, "labels": {"strimzi.io/cluster": cluster, **(labels or {})}},
            "spec": {"authentication": {"type": "scram-sha-512"},
                     "authorization": {"type": "simple", "acls": acls}},
        })
    return resources


def grants_of_kafka_user(resource: dict[str, object]) -> list[Grant]:
    """A rendered ``KafkaUser``'s ACLs back as grants (the deploy tests compare them with ``kafka_access``)."""
    spec = resource["spec"]
    assert isinstance(spec, dict)
    return sorted(Grant(acl["resource"]["type"].upper(), acl["resource"]["name"], op.upper(),
                        acl["resource"]["patternType"].upper())
                  for acl in spec["authorization"]["acls"] for op in acl["operations"])


def _config_value(value: str) -> int | str:
    return int(value) if value.isdigit() else value


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
