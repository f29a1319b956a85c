"""deploy/k8s: both overlays render (with a current kubectl and Debian's 1.20), every resource validates
(built-in kinds against the Kubernetes schemas, CRDs against their required fields), and the policies hold.
Each validator is also fed a deliberately broken copy, to prove it can fail."""

from __future__ import annotations

import copy
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from shared.messaging.topics import topic_specs
from tests.deploy import checks
from tests.deploy.tools import K8S, OVERLAYS, Kubectl, kubectls, kustomize, load_all, missing_tool

NAMESPACES = {"dev": "backorder-dev", "prod": "backorder"}
TOPIC_DURABILITY = {"dev": (1, 1), "prod": (3, 2)}


@pytest.fixture(scope="module")
def renderers() -> list[Kubectl]:
    found = kubectls()
    if not found:
        missing_tool("kubectl")
    return found


@pytest.fixture(scope="module")
def rendered(renderers: list[Kubectl]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    out = {}
    for kubectl in renderers:
        for overlay in OVERLAYS:
            result = kustomize(kubectl, K8S / "overlays" / overlay)
            assert result.returncode == 0, f"{kubectl.label} kustomize {overlay}: {result.stderr}"
            out[overlay, kubectl.label] = load_all(result.stdout)
    return out


@pytest.fixture(scope="module")
def docs(rendered: dict[tuple[str, str], list[dict[str, Any]]], renderers: list[Kubectl]) -> dict[str, list[dict]]:
    """Each overlay as the first kubectl renders it (the current one when there is one)."""
    return {overlay: rendered[overlay, renderers[0].label] for overlay in OVERLAYS}


@pytest.fixture(scope="module")
def consumes() -> dict[str, list[str]]:
    """What each service's consumer group reads, from the services' own definitions."""
    import importlib

    return {name: [s.topic.name for s in importlib.import_module(f"services.{name}.app").DEFINITION.subscriptions]
            for name in checks.SERVICES}


PARTITIONS = {name: partitions for name, partitions, _ in topic_specs()}


def _normalized(docs: list[dict[str, Any]]) -> list[str]:
    """Equal up to the generators' hash suffixes and empty metadata maps, which differ between kustomize v2 and v5."""
    out = []
    for doc in docs:
        doc = copy.deepcopy(doc)
        for key in ("annotations", "labels"):
            if doc["metadata"].get(key) == {}:
                del doc["metadata"][key]
        out.append(re.sub(r"(-config)-[a-z0-9]{10}\b", r"\1", json.dumps(doc, sort_keys=True)))
    return sorted(out)


# ------------------------------------------------------------------------------------------------ rendering


def test_every_kubectl_renders_both_overlays_the_same(rendered: dict, renderers: list[Kubectl]) -> None:
    for overlay in OVERLAYS:
        first = _normalized(rendered[overlay, renderers[0].label])
        assert len(first) > 50
        for other in renderers[1:]:
            assert _normalized(rendered[overlay, other.label]) == first, (
                f"{overlay}: {other.label} renders differently from {renderers[0].label}")


def test_a_kustomization_that_patches_a_missing_resource_is_rejected(renderers: list[Kubectl],
                                                                     tmp_path: Path) -> None:
    shutil.copytree(K8S, tmp_path / "k8s")
    overlay = tmp_path / "k8s" / "overlays" / "prod"
    (overlay / "broken.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: billing\nspec:\n  replicas: 2\n")
    text = (overlay / "kustomization.yaml").read_text()
    (overlay / "kustomization.yaml").write_text(
        text.replace("  - resources.yaml\n", "  - resources.yaml\n  - broken.yaml\n"))
    for kubectl in renderers:
        result = kustomize(kubectl, overlay)
        assert result.returncode != 0, f"{kubectl.label} accepted a patch of a missing Deployment"


# ------------------------------------------------------------------------------------------------ schemas


@pytest.mark.parametrize("version", checks.K8S_VERSIONS)
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_resource_validates(docs: dict[str, list[dict]], overlay: str, version: str) -> None:
    violations = [v for doc in docs[overlay] for v in checks.schema_violations(doc, version)]
    assert violations == []
    kinds = {doc["kind"] for doc in docs[overlay]}
    assert {"KafkaTopic", "ScaledObject", "ServiceMonitor", "Deployment", "Job", "NetworkPolicy",
            "PodDisruptionBudget", "ConfigMap", "Service", "Namespace", "PrometheusRule"} <= kinds


def _find(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    return copy.deepcopy(next(d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name))


def test_the_kubernetes_schema_rejects_a_broken_deployment(docs: dict[str, list[dict]]) -> None:
    deployment = _find(docs["prod"], "Deployment", "orders")
    deployment["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "http-port"
    assert any("containerPort" in v for v in checks.schema_violations(deployment))

    misspelt = _find(docs["prod"], "Deployment", "orders")
    misspelt["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {"httpGet": {"path": "/healthz"}}
    assert checks.schema_violations(misspelt), "strict validation must reject an unknown field"

    job = _find(docs["prod"], "Job", "orders-migrate")
    del job["spec"]["template"]["spec"]["containers"][0]["name"]
    assert checks.schema_violations(job)

    unknown = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    assert checks.schema_violations(unknown), "a kind with no schema must not pass unchecked"


def test_the_crd_schemas_reject_broken_resources(docs: dict[str, list[dict]]) -> None:
    scaled = _find(docs["prod"], "ScaledObject", "inventory")
    del scaled["spec"]["triggers"][1]["metadata"]["consumerGroup"]
    assert any("consumerGroup" in v for v in checks.schema_violations(scaled))

    scaled = _find(docs["prod"], "ScaledObject", "inventory")
    scaled["spec"]["maxReplicaCount"] = "6"
    assert checks.schema_violations(scaled)

    topic = _find(docs["prod"], "KafkaTopic", "orders-events")
    topic["spec"]["partitions"] = 0
    assert checks.schema_violations(topic)
    topic = _find(docs["prod"], "KafkaTopic", "orders-events")
    del topic["metadata"]["labels"]["strimzi.io/cluster"]
    assert checks.schema_violations(topic), "the Topic Operator ignores a KafkaTopic without its cluster label"

    rule = _find(docs["prod"], "PrometheusRule", "backorder-alerts")
    rule["spec"]["groups"][0]["rules"][0]["for"] = "ten minutes"
    assert checks.schema_violations(rule)

    monitor = _find(docs["prod"], "ServiceMonitor", "orders")
    monitor["spec"]["endpoints"] = []
    assert checks.schema_violations(monitor)


# ------------------------------------------------------------------------------------------------ policies


@pytest.mark.parametrize("service", checks.SERVICES)
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_service_is_deployed_as_required(docs: dict[str, list[dict]], consumes: dict[str, list[str]],
                                              overlay: str, service: str) -> None:
    assert checks.service_violations(docs[overlay], service, consumes=consumes, partitions=PARTITIONS) == []
    assert checks.network_violations(docs[overlay], service) == []


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_wide_rules(docs: dict[str, list[dict]], overlay: str) -> None:
    rendered = docs[overlay]
    assert checks.default_deny_violations(rendered) == []
    assert checks.config_violations(rendered) == []
    replicas, min_insync = TOPIC_DURABILITY[overlay]
    assert checks.topic_violations(rendered, topic_specs(), replicas=replicas, min_insync=min_insync) == []
    for doc in rendered:  # everything lands in the overlay's namespace, which enforces restricted pod security
        if doc["kind"] == "Namespace":
            assert doc["metadata"]["name"] == NAMESPACES[overlay]
            assert doc["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
        else:
            assert doc["metadata"].get("namespace") == NAMESPACES[overlay], checks._ref(doc)
    for doc in rendered:
        if doc["kind"] in ("Deployment", "Job"):
            assert checks.pod_violations(checks._ref(doc), doc["spec"]["template"]["spec"]) == []


def test_prod_scales_on_lag_through_the_authenticated_listener(docs: dict[str, list[dict]]) -> None:
    assert checks.keda_auth_violations(docs["prod"]) == []
    config = next(d for d in docs["prod"] if d["metadata"]["name"].startswith("backorder-config"))["data"]
    assert config["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    for scaled in (d for d in docs["prod"] if d["kind"] == "ScaledObject"):
        assert scaled["spec"]["minReplicaCount"] >= 2, "prod keeps two replicas (the PDB lets one go)"


def test_the_policies_reject_broken_manifests(docs: dict[str, list[dict]], consumes: dict[str, list[str]]) -> None:
    def broken(mutate: Any) -> list[dict[str, Any]]:
        copied = copy.deepcopy(docs["prod"])
        mutate({(d["kind"], d["metadata"]["name"]): d for d in copied})
        return copied

    def violations(rendered: list[dict[str, Any]], service: str = "orders") -> list[str]:
        return checks.service_violations(rendered, service, consumes=consumes, partitions=PARTITIONS)

    def container(index: dict, name: str = "orders") -> dict[str, Any]:
        return index["Deployment", name]["spec"]["template"]["spec"]["containers"][0]

    cases = {
        "writable root": lambda i: container(i)["securityContext"].update(readOnlyRootFilesystem=False),
        "root allowed": lambda i: i["Deployment", "orders"]["spec"]["template"]["spec"]["securityContext"].pop(
            "runAsNonRoot"),
        "capabilities kept": lambda i: container(i)["securityContext"]["capabilities"].update(drop=["NET_RAW"]),
        "no memory limit": lambda i: container(i)["resources"]["limits"].pop("memory"),
        "liveness on readiness": lambda i: container(i)["livenessProbe"]["httpGet"].update(path="/readyz"),
        "short grace": lambda i: i["Deployment", "orders"]["spec"]["template"]["spec"].update(
            terminationGracePeriodSeconds=15),
        "fixed replicas": lambda i: i["Deployment", "orders"]["spec"].update(replicas=3),
        "too many replicas": lambda i: i["ScaledObject", "orders"]["spec"].update(maxReplicaCount=12),
        "wrong group": lambda i: i["ScaledObject", "orders"]["spec"]["triggers"][0]["metadata"].update(
            consumerGroup="orders-v2"),
        "missing trigger": lambda i: i["ScaledObject", "orders"]["spec"]["triggers"].pop(),
        "no migration": lambda i: i["Job", "orders-migrate"]["spec"]["template"]["spec"]["containers"][0].update(
            command=["python", "-m", "services.orders", "serve"]),
        "pdb elsewhere": lambda i: i["PodDisruptionBudget", "orders"]["spec"]["selector"]["matchLabels"].update(
            {"app.kubernetes.io/name": "catalog"}),
        "unpinned image": lambda i: container(i).update(image="registry.example.com/backorder/platform:latest"),
    }
    for case, mutate in cases.items():
        assert violations(broken(mutate)), f"policy missed: {case}"

    open_egress = broken(lambda i: i["NetworkPolicy", "orders"]["spec"]["egress"].append(
        {"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": [{"port": 443, "protocol": "TCP"}]}))
    assert checks.network_violations(open_egress, "orders")
    any_port = broken(lambda i: i["NetworkPolicy", "orders"]["spec"]["egress"][1].pop("ports"))
    assert checks.network_violations(any_port, "orders")
    other_db = broken(lambda i: i["NetworkPolicy", "orders"]["spec"]["egress"][2]["to"][0]["podSelector"][
        "matchLabels"].update({"cnpg.io/cluster": "inventory-db"}))
    assert checks.network_violations(other_db, "orders")
    otlp_any_port = broken(lambda i: i["NetworkPolicy", "orders"]["spec"]["egress"][-1]["ports"].append(
        {"port": 443, "protocol": "TCP"}))
    assert checks.network_violations(otlp_any_port, "orders"), "the collector only on its OTLP/HTTP port"
    no_deny = broken(lambda i: i["NetworkPolicy", "default-deny-all"]["spec"].update(
        podSelector={"matchLabels": {"app.kubernetes.io/name": "orders"}}))
    assert checks.default_deny_violations(no_deny)

    with_secret = [*docs["prod"], {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "orders-database"},
                                   "stringData": {"database_url": "postgresql://orders:hunter2@db/orders"}}]
    assert checks.config_violations(with_secret)
    provisioning = broken(lambda i: next(d for (k, n), d in i.items() if n.startswith("backorder-config"))[
        "data"].update(KAFKA_PROVISION_TOPICS="true"))
    assert checks.config_violations(provisioning)

    thin_topics = broken(lambda i: i["KafkaTopic", "orders-events"]["spec"].update(replicas=1))
    assert checks.topic_violations(thin_topics, topic_specs(), replicas=3, min_insync=2)
    unauthenticated = broken(lambda i: i["ScaledObject", "inventory"]["spec"]["triggers"][2].pop("authenticationRef"))
    assert checks.keda_auth_violations(unauthenticated)
