"""The dev stack's Apache Kafka: clear errors, never a hang, when Java, Maven or the broker fails."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pytest

from devstack import broker
from devstack.broker import KafkaNode, KafkaUnavailable, classpath, new_cluster_id
from devstack.processes import spawn


def test_without_java_one_line_says_what_to_install_and_how_to_use_a_cluster(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no java, no mvn
    with pytest.raises(KafkaUnavailable) as raised:
        broker._java()
    message = str(raised.value)
    assert "\n" not in message and "Java 17" in message and "KAFKA_BOOTSTRAP_SERVERS" in message


def test_without_maven_unresolved_jars_fail_at_once_with_what_to_install(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(KafkaUnavailable, match=r"needs Maven: install it .*KAFKA_BOOTSTRAP_SERVERS"):
        classpath(tmp_path / "cache")


def test_resolved_jars_are_reused_without_maven(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # a second run needs no Maven (nor the network)
    digest_dir = tmp_path / "cache" / hashlib.sha256(broker.POM.read_bytes()).hexdigest()[:12]
    (digest_dir / "libs").mkdir(parents=True)  # what a first run's resolution left
    (digest_dir / "resolved").write_text(broker.kafka_version())
    assert classpath(tmp_path / "cache") == digest_dir / "libs"


def test_a_broker_that_does_not_start_in_time_is_killed_and_its_log_shown(tmp_path: Path) -> None:
    node = KafkaNode(tmp_path, 1, new_cluster_id())
    node.root.mkdir(parents=True, exist_ok=True)
    node.log.write_text("starting\nsomething is wrong here\n")
    node.proc = spawn([sys.executable, "-c", "import time; time.sleep(60)"], log=node.log)
    with pytest.raises(KafkaUnavailable, match=r"(?s)did not start within 1s.*something is wrong here"):
        node.wait_started(timeout=1.0)
    assert node.proc is None  # ended by its pid


def test_a_broker_that_exits_while_starting_is_reported_with_its_log(tmp_path: Path) -> None:
    node = KafkaNode(tmp_path, 1, new_cluster_id())
    node.root.mkdir(parents=True, exist_ok=True)
    node.proc = spawn([sys.executable, "-c", "print('port already in use'); raise SystemExit(3)"], log=node.log)
    with pytest.raises(KafkaUnavailable, match=r"(?s)exited with 3.*port already in use"):
        node.wait_started(timeout=30.0)


def test_a_cluster_id_is_22_base64url_characters() -> None:
    cluster_id = new_cluster_id()
    assert len(cluster_id) == 22 and cluster_id.replace("-", "a").replace("_", "a").isalnum()
