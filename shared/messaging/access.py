"""Who may touch which topic: the Kafka users and their ACLs, from the contract's topic table.

One table feeds the dev stack's authorising broker (``devstack/secure_kafka.py``) and the production
``KafkaUser`` resources (``shared/messaging/strimzi.py``), so the two cannot disagree.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from shared.contract.topics import ALL_TOPICS, Topic

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
