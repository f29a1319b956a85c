"""The contract's topics and Kafka users as Strimzi resources (``KafkaTopic``, ``KafkaUser``).

Rendered into ``deploy/k8s`` by ``deploy/render_topics.py``; the deploy tests keep the committed files
current and check the users' ACLs against ``shared.messaging.access``.
"""

from __future__ import annotations

from shared.messaging.access import Grant
from shared.messaging.topics import topic_specs

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
