"""The Strimzi KafkaTopic resources are rendered from the topic table that also provisions the embedded
broker and compose (shared/messaging/topics.py), and the committed files are current."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import yaml
from aiokafka.admin import AIOKafkaAdminClient

from devstack.broker import KafkaCluster
from shared.contract.topics import ALL_TOPICS
from shared.messaging.access import OPERATOR_USER, kafka_access
from shared.messaging.strimzi import grants_of_kafka_user, kafka_topic_resources
from shared.messaging.topics import main, topic_specs
from tests.deploy.tools import DEPLOY


def _render_topics() -> ModuleType:
    spec = importlib.util.spec_from_file_location("render_topics", DEPLOY / "render_topics.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_committed_topic_resources_are_current() -> None:
    assert _render_topics().main(["--check"]) == 0, "run: .venv/bin/python deploy/render_topics.py"


def test_a_stale_topic_file_is_detected(tmp_path: Path) -> None:
    render = _render_topics()
    for path in render.render(DEPLOY):
        target = tmp_path / path.relative_to(DEPLOY)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
    assert render.main(["--check"], tmp_path) == 0
    topics = tmp_path / "k8s/base/topics.yaml"
    topics.write_text(topics.read_text().replace("partitions: 6", "partitions: 3", 1))
    assert render.main(["--check"], tmp_path) == 1


def test_every_topic_and_its_dead_letter_topic_is_a_strimzi_resource() -> None:
    resources = kafka_topic_resources("backorder-kafka", replicas=3, min_insync_replicas=2)
    names = {r["spec"]["topicName"] for r in resources}  # type: ignore[index]
    assert names == {t.name for t in ALL_TOPICS} | {t.dlq for t in ALL_TOPICS}
    assert len(resources) == len(topic_specs())
    committed = [d for d in yaml.safe_load_all((DEPLOY / "k8s/base/topics.yaml").read_text()) if d]
    for topic in ALL_TOPICS:
        rendered = next(r for r in committed if r["spec"]["topicName"] == topic.name)
        assert rendered["spec"]["partitions"] == topic.partitions
        assert rendered["spec"]["config"]["retention.ms"] == topic.retention_ms
        assert rendered["spec"]["config"]["min.insync.replicas"] == 2


def test_the_provisioning_entry_point_lists_the_table(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[0] for line in lines] == [name for name, _, _ in topic_specs()]
    assert main(["bogus"]) == 2


def test_the_provisioning_one_shot_creates_the_table_once(tmp_path: Path) -> None:
    """What compose's `topics` service runs, against a real (embedded) broker: every topic with its partitions,
    even with KAFKA_PROVISION_TOPICS=false (the services' switch), and nothing on a second run."""
    broker = KafkaCluster(tmp_path).start()
    try:
        env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap, "KAFKA_PROVISION_TOPICS": "false"}
        command = [sys.executable, "-m", "shared.messaging.topics", "provision"]
        first = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)
        assert first.returncode == 0, first.stderr
        assert f"created {len(topic_specs())}:" in first.stdout
        again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)
        assert again.returncode == 0 and "created 0:" in again.stdout, again.stdout + again.stderr

        async def partitions() -> dict[str, int]:
            admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap)
            await admin.start()
            try:
                described = await admin.describe_topics([name for name, _, _ in topic_specs()])
                return {t["topic"]: len(t["partitions"]) for t in described}
            finally:
                await admin.close()

        assert asyncio.run(partitions()) == {name: n for name, n, _ in topic_specs()}
    finally:
        broker.stop()


def test_the_prod_kafka_users_grant_exactly_what_the_topic_table_and_the_services_say() -> None:
    """The committed KafkaUsers' ACLs, read back, are the access table (which the fault suite's authenticated
    broker gets too), and that table is the least each service needs: it writes what it publishes (its own
    topics, per the table) and the dead-letter topics of what it reads; it reads what it subscribes to."""
    render = _render_topics()
    users = [d for d in yaml.safe_load_all((DEPLOY / "k8s/overlays/prod/kafka-users.yaml").read_text())
             if d and d["kind"] == "KafkaUser"]
    definitions = render.service_definitions()
    access = kafka_access(definitions)
    assert {u["metadata"]["name"]: grants_of_kafka_user(u) for u in users} == access
    for service in definitions:
        grants = access[service.name]
        writes = {g.name for g in grants if g.resource == "TOPIC" and g.operation == "WRITE"}
        reads = {g.name for g in grants if g.resource == "TOPIC" and g.operation == "READ"}
        assert writes == {t.name for t in service.publishes} | {s.topic.dlq for s in service.subscriptions}
        assert all(t.owner == service.name for t in service.publishes)
        assert reads == {s.topic.name for s in service.subscriptions}
        assert {g.name for g in grants if g.resource == "GROUP"} == {service.group_id}
    operator_writes = {g.name for g in access[OPERATOR_USER] if g.operation == "WRITE"}
    assert operator_writes == {t.name for t in ALL_TOPICS}, "the CLI publishes commands and replays dead letters"
