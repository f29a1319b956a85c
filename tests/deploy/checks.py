"""What a rendered overlay must satisfy: the Kubernetes schemas, the CRDs' required fields, and our policies.

Every check returns a list of violations (empty = fine), so a test can feed it a deliberately broken copy
and see it complain.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping
from typing import Any

import kubernetes_validate
from jsonschema import Draft202012Validator

#: Kubernetes versions the built-in kinds are validated against: the oldest we support and the newest schemas.
K8S_VERSIONS = ("1.32", kubernetes_validate.utils.latest_version())
SERVICES = ("catalog", "inventory", "orders", "notifications")
#: seconds ``shared/service.py`` may take after SIGTERM besides the broker's graceful stop: the outbox flush
OUTBOX_FLUSH_S = 5

Doc = dict[str, Any]

# ------------------------------------------------------------------------------------------------ CRD schemas
# No CRD schemas ship with kubernetes-validate: these hold what the operators require and what we rely on.

_NAME = {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", "maxLength": 253}
_LABELS = {"type": "object", "additionalProperties": {"type": "string"}}
_METADATA = {
    "type": "object", "required": ["name"],
    "properties": {"name": _NAME, "namespace": _NAME, "labels": _LABELS, "annotations": _LABELS},
}
_STRINGS = {"type": "object", "additionalProperties": {"type": "string"}}
_SELECTOR = {
    "type": "object", "minProperties": 1,
    "properties": {"matchLabels": _STRINGS, "matchExpressions": {"type": "array"}},
    "additionalProperties": False,
}
_DURATION = {"type": "string", "pattern": r"^(\d+(ms|s|m|h))+$"}


def _resource(api_version: str, kind: str, spec: Mapping[str, Any], *, metadata: Mapping[str, Any] = _METADATA) -> Doc:
    return {
        "type": "object", "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {"apiVersion": {"const": api_version}, "kind": {"const": kind}, "metadata": metadata,
                       "spec": spec},
        "additionalProperties": False,
    }


_KAFKA_TOPIC = _resource("kafka.strimzi.io/v1", "KafkaTopic", {
    "type": "object", "required": ["topicName", "partitions", "replicas", "config"], "additionalProperties": False,
    "properties": {
        "topicName": {"type": "string", "pattern": r"^[a-zA-Z0-9._-]{1,249}$"},
        "partitions": {"type": "integer", "minimum": 1},
        "replicas": {"type": "integer", "minimum": 1, "maximum": 32767},
        "config": {"type": "object", "additionalProperties": {"type": ["string", "integer", "boolean", "number"]}},
    },
}, metadata={**_METADATA, "required": ["name", "labels"],
             "properties": {**_METADATA["properties"],
                            "labels": {**_LABELS, "required": ["strimzi.io/cluster"]}}})

_KAFKA_TRIGGER = {
    "type": "object", "required": ["type", "metadata"], "additionalProperties": False,
    "properties": {
        "type": {"const": "kafka"},
        "name": {"type": "string"},
        "metricType": {"enum": ["AverageValue", "Value"]},
        "useCachedMetrics": {"type": "boolean"},
        "authenticationRef": {"type": "object", "required": ["name"], "additionalProperties": False,
                              "properties": {"name": _NAME,
                                             "kind": {"enum": ["TriggerAuthentication",
                                                               "ClusterTriggerAuthentication"]}}},
        "metadata": {
            "type": "object", "additionalProperties": False,
            "required": ["consumerGroup", "topic", "lagThreshold"],
            "oneOf": [{"required": ["bootstrapServers"]}, {"required": ["bootstrapServersFromEnv"]}],
            "properties": {
                "bootstrapServers": {"type": "string", "minLength": 1},
                "bootstrapServersFromEnv": {"type": "string", "pattern": "^[A-Z_][A-Z0-9_]*$"},
                "consumerGroup": {"type": "string", "minLength": 1},
                "topic": {"type": "string", "minLength": 1},
                "lagThreshold": {"type": "string", "pattern": r"^[1-9]\d*$"},
                "activationLagThreshold": {"type": "string", "pattern": r"^\d+$"},
                "offsetResetPolicy": {"enum": ["earliest", "latest"]},
                "allowIdleConsumers": {"enum": ["true", "false"]},
                "scaleToZeroOnInvalidOffset": {"enum": ["true", "false"]},
                "excludePersistentLag": {"enum": ["true", "false"]},
                "limitToPartitionsWithLag": {"enum": ["true", "false"]},
            },
        },
    },
}

_SCALED_OBJECT = _resource("keda.sh/v1alpha1", "ScaledObject", {
    "type": "object", "required": ["scaleTargetRef", "triggers", "minReplicaCount", "maxReplicaCount"],
    "additionalProperties": False,
    "properties": {
        "scaleTargetRef": {"type": "object", "required": ["name"], "additionalProperties": False,
                           "properties": {"name": _NAME, "kind": {"type": "string"},
                                          "apiVersion": {"type": "string"}}},
        "minReplicaCount": {"type": "integer", "minimum": 0},
        "maxReplicaCount": {"type": "integer", "minimum": 1},
        "pollingInterval": {"type": "integer", "minimum": 1},
        "cooldownPeriod": {"type": "integer", "minimum": 0},
        "advanced": {"type": "object"},
        "fallback": {"type": "object", "required": ["failureThreshold", "replicas"]},
        "triggers": {"type": "array", "minItems": 1, "items": _KAFKA_TRIGGER},
    },
})

_TRIGGER_AUTHENTICATION = _resource("keda.sh/v1alpha1", "TriggerAuthentication", {
    "type": "object", "required": ["secretTargetRef"], "additionalProperties": False,
    "properties": {"secretTargetRef": {
        "type": "array", "minItems": 1,
        "items": {"type": "object", "required": ["parameter", "name", "key"], "additionalProperties": False,
                  "properties": {"parameter": {"type": "string"}, "name": _NAME, "key": {"type": "string"}}},
    }},
})

_SERVICE_MONITOR = _resource("monitoring.coreos.com/v1", "ServiceMonitor", {
    "type": "object", "required": ["selector", "endpoints"], "additionalProperties": False,
    "properties": {
        "selector": _SELECTOR,
        "namespaceSelector": {"type": "object"},
        "endpoints": {"type": "array", "minItems": 1, "items": {
            "type": "object", "required": ["port", "path"], "additionalProperties": False,
            "properties": {"port": {"type": "string"}, "path": {"type": "string", "pattern": "^/"},
                           "interval": _DURATION, "scrapeTimeout": _DURATION, "scheme": {"enum": ["http", "https"]}},
        }},
    },
})

#: the Prometheus Operator's PrometheusRule: groups of alerting (or recording) rules
_PROMETHEUS_RULE = _resource("monitoring.coreos.com/v1", "PrometheusRule", {
    "type": "object", "required": ["groups"], "additionalProperties": False,
    "properties": {"groups": {"type": "array", "minItems": 1, "items": {
        "type": "object", "required": ["name", "rules"], "additionalProperties": False,
        "properties": {"name": {"type": "string", "minLength": 1}, "interval": _DURATION, "rules": {
            "type": "array", "minItems": 1, "items": {
                "type": "object", "required": ["expr"], "additionalProperties": False,
                "oneOf": [{"required": ["alert"]}, {"required": ["record"]}],
                "properties": {"alert": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"},
                               "record": {"type": "string"}, "expr": {"type": "string", "minLength": 1},
                               "for": _DURATION, "labels": _STRINGS, "annotations": _STRINGS},
            }}},
    }}},
})

_OPERATIONS = ["Read", "Write", "Create", "Delete", "Alter", "Describe", "ClusterAction", "AlterConfigs",
               "DescribeConfigs", "IdempotentWrite", "All"]
#: Strimzi's KafkaUser (API v1): SCRAM or TLS authentication, simple authorisation with ``operations`` lists
_KAFKA_USER = _resource("kafka.strimzi.io/v1", "KafkaUser", {
    "type": "object", "required": ["authentication", "authorization"], "additionalProperties": False,
    "properties": {
        "authentication": {"type": "object", "required": ["type"], "additionalProperties": False,
                           "properties": {"type": {"enum": ["scram-sha-512", "tls", "tls-external"]}}},
        "authorization": {"type": "object", "required": ["type", "acls"], "additionalProperties": False, "properties": {
            "type": {"const": "simple"},
            "acls": {"type": "array", "items": {
                "type": "object", "required": ["resource", "operations"], "additionalProperties": False,
                "properties": {
                    "resource": {"type": "object", "required": ["type"], "additionalProperties": False,
                                 "properties": {"type": {"enum": ["topic", "group", "cluster", "transactionalId"]},
                                                "name": {"type": "string"},
                                                "patternType": {"enum": ["literal", "prefix"]}}},
                    "operations": {"type": "array", "minItems": 1, "items": {"enum": _OPERATIONS}},
                    "host": {"type": "string"},
                    "type": {"enum": ["allow", "deny"]},
                }}},
        }},
    },
}, metadata={**_METADATA, "required": ["name", "labels"],
             "properties": {**_METADATA["properties"],
                            "labels": {**_LABELS, "required": ["strimzi.io/cluster"]}}})

CRD_SCHEMAS: dict[tuple[str, str], Doc] = {
    ("kafka.strimzi.io/v1", "KafkaTopic"): _KAFKA_TOPIC,
    ("kafka.strimzi.io/v1", "KafkaUser"): _KAFKA_USER,
    ("keda.sh/v1alpha1", "ScaledObject"): _SCALED_OBJECT,
    ("keda.sh/v1alpha1", "TriggerAuthentication"): _TRIGGER_AUTHENTICATION,
    ("monitoring.coreos.com/v1", "ServiceMonitor"): _SERVICE_MONITOR,
    ("monitoring.coreos.com/v1", "PrometheusRule"): _PROMETHEUS_RULE,
}
_CRD_VALIDATORS = {key: Draft202012Validator(schema) for key, schema in CRD_SCHEMAS.items()}


def _ref(doc: Doc) -> str:
    return f"{doc.get('kind')}/{(doc.get('metadata') or {}).get('name')}"


def schema_violations(doc: Doc, k8s_version: str = K8S_VERSIONS[0]) -> list[str]:
    """Built-in kinds against the Kubernetes OpenAPI schemas (strict: unknown fields are errors); our CRDs
    against the schemas above; any other kind is a violation (nothing goes unchecked)."""
    validator = _CRD_VALIDATORS.get((doc.get("apiVersion", ""), doc.get("kind", "")))
    if validator is not None:
        return [f"{_ref(doc)}: {'.'.join(map(str, e.absolute_path)) or '.'}: {e.message}"
                for e in validator.iter_errors(doc)]
    try:
        kubernetes_validate.validate(doc, k8s_version, strict=True)
    except kubernetes_validate.SchemaNotFoundError as exc:
        return [f"{_ref(doc)}: {exc.message}"]
    except kubernetes_validate.ValidationError as exc:
        return [f"{_ref(doc)} (Kubernetes {exc.version}): {'.'.join(map(str, exc.path)) or '.'}: {exc.message}"]
    return []


# ------------------------------------------------------------------------------------------------ policies


def broker_graceful_timeout_s() -> float:
    """FastStream's KafkaBroker graceful timeout (shared/messaging/broker.py keeps the default)."""
    from faststream.kafka import KafkaBroker

    return float(inspect.signature(KafkaBroker.__init__).parameters["graceful_timeout"].default)


def _by_kind(docs: Iterable[Doc], kind: str) -> dict[str, Doc]:
    return {d["metadata"]["name"]: d for d in docs if d.get("kind") == kind}


def _matches(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def pod_violations(ref: str, pod: Doc) -> list[str]:
    """Restricted pod security, resources and a writable /tmp for one pod template."""
    out = []
    ctx = pod.get("securityContext") or {}
    if ctx.get("runAsNonRoot") is not True:
        out.append(f"{ref}: pod securityContext.runAsNonRoot must be true")
    if (ctx.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
        out.append(f"{ref}: pod seccompProfile must be RuntimeDefault")
    if pod.get("automountServiceAccountToken") is not False:
        out.append(f"{ref}: automountServiceAccountToken must be false")
    volumes = {v["name"]: v for v in pod.get("volumes") or []}
    for container in [*(pod.get("initContainers") or []), *(pod.get("containers") or [])]:
        cref = f"{ref} container {container.get('name')}"
        sc = container.get("securityContext") or {}
        if sc.get("readOnlyRootFilesystem") is not True:
            out.append(f"{cref}: readOnlyRootFilesystem must be true")
        if sc.get("allowPrivilegeEscalation") is not False:
            out.append(f"{cref}: allowPrivilegeEscalation must be false")
        if (sc.get("capabilities") or {}).get("drop") != ["ALL"]:
            out.append(f"{cref}: capabilities.drop must be [ALL]")
        if sc.get("privileged"):
            out.append(f"{cref}: privileged")
        resources = container.get("resources") or {}
        for bound in ("requests", "limits"):
            for resource in ("cpu", "memory"):
                if resource not in (resources.get(bound) or {}):
                    out.append(f"{cref}: resources.{bound}.{resource} missing")
        tmp = [m for m in container.get("volumeMounts") or [] if m.get("mountPath") == "/tmp"]
        if not tmp or "emptyDir" not in volumes.get(tmp[0]["name"], {}):
            out.append(f"{cref}: needs an emptyDir at /tmp (the root filesystem is read-only)")
        image = container.get("image", "")
        if image.endswith(":latest") or (":" not in image.rsplit("/", 1)[-1] and "@sha256:" not in image):
            out.append(f"{cref}: image {image!r} must be pinned by tag or digest")
    return out


def service_violations(docs: list[Doc], service: str, *, consumes: Mapping[str, list[str]],
                       partitions: Mapping[str, int]) -> list[str]:
    """One service's Deployment, Job, Service, ServiceMonitor, PDB and ScaledObject, and how they fit."""
    out: list[str] = []
    deployments, jobs = _by_kind(docs, "Deployment"), _by_kind(docs, "Job")
    deployment = deployments.get(service)
    if deployment is None:
        return [f"Deployment/{service} missing"]
    ref = f"Deployment/{service}"
    pod = deployment["spec"]["template"]["spec"]
    pod_labels = deployment["spec"]["template"]["metadata"].get("labels") or {}
    out += pod_violations(ref, pod)
    if "replicas" in deployment["spec"]:
        out.append(f"{ref}: replicas is owned by the ScaledObject; do not set it")
    container = pod["containers"][0]
    if container.get("command", [])[-2:] != [f"services.{service}", "serve"]:
        out.append(f"{ref}: command must run services.{service} serve")
    probes = {name: ((container.get(name) or {}).get("httpGet") or {}).get("path")
              for name in ("readinessProbe", "livenessProbe", "startupProbe")}
    if probes["readinessProbe"] != "/readyz":
        out.append(f"{ref}: readinessProbe must GET /readyz (database answers, consumer joined)")
    if probes["livenessProbe"] != "/healthz":
        out.append(f"{ref}: livenessProbe must GET /healthz (never fails on a Kafka or database outage)")
    if probes["startupProbe"] != "/healthz":
        out.append(f"{ref}: startupProbe must GET /healthz (start waits for the database and migrations)")
    grace = pod.get("terminationGracePeriodSeconds", 30)
    if grace <= broker_graceful_timeout_s() + OUTBOX_FLUSH_S:
        out.append(f"{ref}: terminationGracePeriodSeconds {grace} must exceed the broker's graceful timeout "
                   f"({broker_graceful_timeout_s():g} s) plus the outbox flush ({OUTBOX_FLUSH_S} s)")
    secrets = [s["secret"]["name"] for v in pod.get("volumes") or [] for s in (v.get("projected") or {}).get(
        "sources", []) if "secret" in s]
    if f"{service}-database" not in secrets:
        out.append(f"{ref}: must mount Secret {service}-database (DATABASE_URL) under /run/secrets/backorder")

    job = jobs.get(f"{service}-migrate")
    if job is None:
        out.append(f"Job/{service}-migrate missing")
    else:
        jpod = job["spec"]["template"]["spec"]
        out += pod_violations(f"Job/{service}-migrate", jpod)
        if jpod["containers"][0].get("command", [])[-2:] != [f"services.{service}", "migrate"]:
            out.append(f"Job/{service}-migrate: command must run services.{service} migrate")

    svc = _by_kind(docs, "Service").get(service)
    if svc is None or not _matches(svc["spec"].get("selector") or {}, pod_labels):
        out.append(f"Service/{service} missing or not selecting the Deployment's pods")
    monitor = _by_kind(docs, "ServiceMonitor").get(service)
    if monitor is None or svc is None:
        out.append(f"ServiceMonitor/{service} missing")
    else:
        if not _matches(monitor["spec"]["selector"].get("matchLabels") or {}, svc["metadata"].get("labels") or {}):
            out.append(f"ServiceMonitor/{service}: selector does not match Service/{service}'s labels")
        ports = {p.get("name") for p in svc["spec"]["ports"]}
        for endpoint in monitor["spec"]["endpoints"]:
            if endpoint.get("port") not in ports or endpoint.get("path") != "/metrics":
                out.append(f"ServiceMonitor/{service}: endpoint must scrape /metrics on a port of the Service")
    pdb = _by_kind(docs, "PodDisruptionBudget").get(service)
    if pdb is None or not _matches(pdb["spec"]["selector"].get("matchLabels") or {}, pod_labels):
        out.append(f"PodDisruptionBudget/{service} missing or not selecting the Deployment's pods")

    scaled = _by_kind(docs, "ScaledObject").get(service)
    if scaled is None:
        return [*out, f"ScaledObject/{service} missing"]
    spec = scaled["spec"]
    if spec["scaleTargetRef"]["name"] != service:
        out.append(f"ScaledObject/{service}: scaleTargetRef must be Deployment/{service}")
    if spec.get("minReplicaCount", 0) < 1:
        out.append(f"ScaledObject/{service}: minReplicaCount must be >= 1 (the process also relays the outbox)")
    topics = [t["metadata"].get("topic") for t in spec["triggers"]]
    if sorted(topics) != sorted(consumes[service]):
        out.append(f"ScaledObject/{service}: triggers on {sorted(topics)}, but the service consumes "
                   f"{sorted(consumes[service])}")
    for trigger in spec["triggers"]:
        meta = trigger["metadata"]
        if meta.get("consumerGroup") != service:
            out.append(f"ScaledObject/{service}: consumerGroup {meta.get('consumerGroup')!r} is not {service!r}")
        if meta.get("offsetResetPolicy") != "earliest":
            out.append(f"ScaledObject/{service}: offsetResetPolicy must be earliest, as the consumers'")
    max_useful = min((partitions.get(t, 0) for t in consumes[service]), default=0)
    if spec.get("maxReplicaCount", 100) > max_useful:
        out.append(f"ScaledObject/{service}: maxReplicaCount {spec.get('maxReplicaCount')} exceeds the "
                   f"{max_useful} partitions of its topics (idle consumers)")
    if spec.get("maxReplicaCount", 0) < spec.get("minReplicaCount", 0):
        out.append(f"ScaledObject/{service}: maxReplicaCount < minReplicaCount")
    return out


def _peer_kind(peer: Doc, service: str) -> str:
    pods = (peer.get("podSelector") or {}).get("matchLabels") or {}
    namespaces = (peer.get("namespaceSelector") or {}).get("matchLabels") or {}
    if namespaces.get("kubernetes.io/metadata.name") == "kube-system" and pods.get("k8s-app") == "kube-dns":
        return "dns"
    if "strimzi.io/cluster" in pods and namespaces:
        return "kafka"
    if pods.get("cnpg.io/cluster") == f"{service}-db" and not namespaces:
        return "database"
    if "ipBlock" in peer and service == "notifications":
        return "smtp"
    if pods.get("app.kubernetes.io/name") == "mailpit" and service == "notifications":
        return "smtp"
    if pods.get("app.kubernetes.io/name") == "opentelemetry-collector" \
            and namespaces.get("kubernetes.io/metadata.name") == "monitoring":
        return "otlp"
    return "other"


_ALLOWED_PORTS = {"dns": {53}, "kafka": {9092, 9093}, "database": {5432}, "smtp": {25, 465, 587, 1025},
                  "otlp": {4318}}


def network_violations(docs: list[Doc], service: str) -> list[str]:
    """Egress of a service: DNS, Kafka, its own database, (notifications) SMTP and the OpenTelemetry collector's
    OTLP/HTTP port, and nothing else."""
    out: list[str] = []
    policies = [p for p in _by_kind(docs, "NetworkPolicy").values()
                if ((p["spec"].get("podSelector") or {}).get("matchLabels") or {}).get(
                    "app.kubernetes.io/name") == service]
    if not policies:
        return [f"NetworkPolicy for {service} missing"]
    reached: set[str] = set()
    for policy in policies:
        ref = f"NetworkPolicy/{policy['metadata']['name']}"
        if "Egress" not in policy["spec"].get("policyTypes", []):
            out.append(f"{ref}: must restrict Egress")
        for rule in policy["spec"].get("egress") or []:
            if not rule.get("to"):
                out.append(f"{ref}: an egress rule without `to` allows every destination")
                continue
            ports = {p.get("port") for p in rule.get("ports") or []}
            if not ports:
                out.append(f"{ref}: an egress rule without ports allows every port")
            for peer in rule["to"]:
                kind = _peer_kind(peer, service)
                if kind == "other":
                    out.append(f"{ref}: egress to {peer} is not DNS, Kafka, {service}'s database, the OTLP collector"
                               + (" or SMTP" if service == "notifications" else ""))
                elif not ports <= _ALLOWED_PORTS[kind]:
                    out.append(f"{ref}: egress to {kind} on ports {sorted(ports, key=str)}")
                else:
                    reached.add(kind)
    needed = {"dns", "kafka", "database"} | ({"smtp"} if service == "notifications" else set())
    for kind in sorted(needed - reached):
        out.append(f"NetworkPolicy for {service}: no egress to {kind}")
    return out


def default_deny_violations(docs: list[Doc]) -> list[str]:
    for policy in _by_kind(docs, "NetworkPolicy").values():
        spec = policy["spec"]
        if (spec.get("podSelector") in ({}, None) and set(spec.get("policyTypes", [])) == {"Ingress", "Egress"}
                and not spec.get("ingress") and not spec.get("egress")):
            return []
    return ["no default-deny NetworkPolicy (podSelector {}, Ingress and Egress, no rules)"]


def config_violations(docs: list[Doc]) -> list[str]:
    out = []
    if any(d.get("kind") == "Secret" for d in docs):
        out.append("a Secret is committed: Secrets are referenced, never part of the manifests")
    common = [d for d in docs if d.get("kind") == "ConfigMap" and d["metadata"]["name"].startswith("backorder-config")]
    if len(common) != 1:
        return [*out, "one ConfigMap backorder-config expected"]
    data = common[0].get("data") or {}
    for key, value in {"KAFKA_PROVISION_TOPICS": "false", "KAFKA_ENABLE_IDEMPOTENCE": "true",
                       "HTTP_HOST": "0.0.0.0"}.items():
        if data.get(key) != value:
            out.append(f"ConfigMap backorder-config: {key} must be {value!r}, is {data.get(key)!r}")
    for key in ("KAFKA_BOOTSTRAP_SERVERS", "HTTP_PORT"):
        if not data.get(key):
            out.append(f"ConfigMap backorder-config: {key} missing")
    notifications = [d for d in docs if d.get("kind") == "ConfigMap"
                     and d["metadata"]["name"].startswith("notifications-config")]
    if not notifications or not (notifications[0].get("data") or {}).get("SMTP_HOST"):
        out.append("ConfigMap notifications-config: SMTP_HOST missing")
    return out


def topic_violations(docs: list[Doc], specs: list[tuple[str, int, dict[str, str]]], *, replicas: int,
                     min_insync: int) -> list[str]:
    out = []
    topics = {d["spec"]["topicName"]: d for d in docs if d.get("kind") == "KafkaTopic"}
    for name, n, config in specs:
        topic = topics.pop(name, None)
        if topic is None:
            out.append(f"KafkaTopic for {name} missing")
            continue
        spec = topic["spec"]
        if spec.get("partitions") != n:
            out.append(f"KafkaTopic {name}: {spec.get('partitions')} partitions, the topic table says {n}")
        if spec.get("replicas") != replicas:
            out.append(f"KafkaTopic {name}: replication factor {spec.get('replicas')}, expected {replicas}")
        if spec.get("config", {}).get("min.insync.replicas") != min_insync:
            out.append(f"KafkaTopic {name}: min.insync.replicas {spec.get('config', {}).get('min.insync.replicas')}"
                       f", expected {min_insync}")
        for key, value in config.items():
            if str(spec.get("config", {}).get(key)) != value:
                out.append(f"KafkaTopic {name}: {key} differs from the topic table")
    out += [f"KafkaTopic {name} is not in the topic table" for name in topics]
    return out


def keda_auth_violations(docs: list[Doc]) -> list[str]:
    """Every kafka trigger authenticates with a TriggerAuthentication of the overlay (prod)."""
    auths = set(_by_kind(docs, "TriggerAuthentication"))
    out = []
    for name, scaled in _by_kind(docs, "ScaledObject").items():
        for trigger in scaled["spec"]["triggers"]:
            ref = (trigger.get("authenticationRef") or {}).get("name")
            if ref not in auths:
                out.append(f"ScaledObject/{name}: trigger on {trigger['metadata'].get('topic')} has authenticationRef "
                           f"{ref!r}, not a TriggerAuthentication of this overlay")
    return out
