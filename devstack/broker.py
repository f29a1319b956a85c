"""Apache Kafka for the dev stack: a KRaft broker from Maven Central jars, run as our own child process.

* The jars: ``devstack/apache-kafka/pom.xml`` pins them. ``mvn dependency:copy-dependencies`` copies
  them once into ``.devstack/apache-kafka/<digest of the pom>/`` (Maven's own repository caches the
  downloads too); every later start reuses that directory.
* A node: one process that is both broker and KRaft controller (``process.roles=broker,controller``),
  its storage formatted under its own directory, its output in ``kafka.log`` there. ``start()`` waits
  until the broker says it started and answers on its port, within a bound, or fails with the end of
  its log. ``stop()`` ends it by its pid; ``start()`` again restarts it on the same log directories,
  so what it acknowledged survives a crash (``SIGKILL``).
* ``KafkaCluster`` is one or more such nodes sharing one cluster id and controller quorum. With three,
  every node is a voter of the quorum, internal topics have replication 3 and ``min.insync.replicas=2``,
  and the fault tests find the node leading a topic's partitions, the active controller, and wait until
  every replica is back in sync (``leaders``, ``active_controller``, ``wait_in_sync``).
* Heaps: 384 MiB at most per node (the serial collector): three nodes, PostgreSQL and two instances of
  each service fit in 2 cores and about 2.5 GiB of the machine's 24.

Nothing here is needed in production, where the platform is pointed at a cluster with
``KAFKA_BOOTSTRAP_SERVERS``.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient

from devstack.processes import free_port, spawn, stop, tail, wait_for_port

RESOURCES = Path(__file__).parent / "apache-kafka"
POM = RESOURCES / "pom.xml"
LOG4J = RESOURCES / "log4j.properties"
#: where resolved jars are kept: the checkout's ``.devstack/`` (``BACKORDER_KAFKA_CACHE`` overrides it)
DEFAULT_CACHE = Path(__file__).resolve().parents[1] / ".devstack" / "apache-kafka"
MIN_JAVA = 17
RESOLVE_TIMEOUT_S = 900.0
START_TIMEOUT_S = 90.0
#: a node's JVM: a small heap is plenty for a dev broker, and the serial collector spares the 2 cores
JVM_OPTIONS = ("-Xms128m", "-Xmx384m", "-XX:+UseSerialGC", "-Djava.awt.headless=true")
#: the KRaft leader's election, as each node logs it: the highest epoch names the active controller
LEADER = re.compile(r"\[RaftManager id=(\d+)\] Completed transition to Leader\(.*?epoch=(\d+)")
STARTED = re.compile(r"Kafka Server started|\[KafkaRaftServer nodeId=\d+\] Kafka Server started")


class KafkaUnavailable(RuntimeError):
    """Apache Kafka cannot be run here: the message says what is missing and what to do instead."""


INSTEAD = "or point the platform at an existing cluster with KAFKA_BOOTSTRAP_SERVERS=host:port"


def kafka_version() -> str:
    match = re.search(r"<kafka.version>([^<]+)</kafka.version>", POM.read_text())
    if match is None:
        raise KafkaUnavailable(f"{POM} names no <kafka.version>")
    return match.group(1)


def _java() -> str:
    java = shutil.which("java")
    if java is None:
        raise KafkaUnavailable(f"Apache Kafka needs Java {MIN_JAVA}+: install a JDK (Debian: apt-get install "
                               f"openjdk-17-jre-headless), {INSTEAD}")
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30).stderr
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise KafkaUnavailable(f"`java -version` failed ({exc!r}): install Java {MIN_JAVA}+, {INSTEAD}") from exc
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    major = int(match.group(1)) if match else 0
    if major == 1 and match and match.group(2):  # "1.8.0_..." is Java 8
        major = int(match.group(2))
    if major < MIN_JAVA:
        raise KafkaUnavailable(f"Apache Kafka needs Java {MIN_JAVA}+, found {out.splitlines()[0] if out else '?'}: "
                               f"install a newer JDK, {INSTEAD}")
    return java


def classpath(cache: Path | None = None) -> Path:
    """The directory of the broker's jars, resolved by Maven on first use and cached after that."""
    cache = cache or Path(os.environ.get("BACKORDER_KAFKA_CACHE", DEFAULT_CACHE))
    digest = hashlib.sha256(POM.read_bytes()).hexdigest()[:12]
    libs = cache / digest / "libs"
    done = libs.parent / "resolved"
    if done.exists():
        return libs
    mvn = shutil.which("mvn")
    if mvn is None:
        raise KafkaUnavailable(f"resolving Apache Kafka's jars needs Maven: install it (Debian: apt-get install "
                               f"maven), {INSTEAD}")
    libs.parent.mkdir(parents=True, exist_ok=True)
    with open(libs.parent / "lock", "w") as lock:  # two processes resolving at once: the second waits
        fcntl.flock(lock, fcntl.LOCK_EX)
        if done.exists():
            return libs
        shutil.rmtree(libs, ignore_errors=True)
        log = libs.parent / "mvn.log"
        command = [mvn, "-B", "-q", "-f", str(POM), "dependency:copy-dependencies", "-DincludeScope=runtime",
                   f"-DoutputDirectory={libs}"]
        try:
            with open(log, "wb") as out:
                result = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        timeout=RESOLVE_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired as exc:
            raise KafkaUnavailable(f"Maven did not resolve Apache Kafka {kafka_version()} within "
                                   f"{RESOLVE_TIMEOUT_S:.0f}s (is Maven Central reachable?), {INSTEAD}") from exc
        if result.returncode != 0 or not any(libs.glob("kafka_2.13-*.jar")):
            raise KafkaUnavailable(f"Maven could not resolve Apache Kafka {kafka_version()} (exit "
                                   f"{result.returncode}), {INSTEAD}; its output ends:\n{tail(log)}")
        done.write_text(kafka_version())
    return libs


def new_cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, base64url without padding (22 characters), never starting with
    ``-`` (the storage tool would read such an id as an option: one id in 64 failed to format)."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


@dataclass
class KafkaNode:
    """One KRaft node (broker and controller in one process) with its own ports and log directory."""

    root: Path
    node_id: int
    cluster_id: str
    port: int = field(default_factory=free_port)
    controller_port: int = field(default_factory=free_port)
    #: the broker's JMX (loopback only, no authentication): its own metrics, read by Kafka's JmxTool
    jmx_port: int = field(default_factory=free_port)
    #: ``node.id@host:port`` of every controller in the quorum, this node's included
    voters: str = ""
    #: replication of the internal topics and their minimum in-sync replicas (1 for a single node)
    replication: int = 1
    extra: dict[str, str] = field(default_factory=dict)
    #: more arguments for the storage tool's ``format`` (``--add-scram``: users that exist from the start)
    format_args: list[str] = field(default_factory=list, repr=False)
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def jmx_url(self) -> str:
        return f"service:jmx:rmi:///jndi/rmi://127.0.0.1:{self.jmx_port}/jmxrmi"

    @property
    def log_dir(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "kafka.log"

    def properties(self) -> dict[str, str]:
        min_isr = str(min(2, self.replication))
        return {
            "process.roles": "broker,controller",
            "node.id": str(self.node_id),
            "controller.quorum.voters": self.voters or f"{self.node_id}@127.0.0.1:{self.controller_port}",
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names": "CONTROLLER",
            # without it transaction markers have been seen going to the controller's port
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": str(self.log_dir),
            "offsets.topic.replication.factor": str(self.replication),
            "offsets.topic.num.partitions": "4",
            "transaction.state.log.replication.factor": str(self.replication),
            "transaction.state.log.min.isr": min_isr,
            "transaction.state.log.num.partitions": "2",
            "default.replication.factor": str(self.replication),
            "min.insync.replicas": min_isr,
            # a consumer group forms as soon as its first member joins (the default waits 3 s)
            "group.initial.rebalance.delay.ms": "0",
            # topics come from provisioning (the contract's table), never from a client looking one up
            "auto.create.topics.enable": "false",
            "num.partitions": "1",
            "num.network.threads": "2",
            "num.io.threads": "2",
            "num.recovery.threads.per.data.dir": "1",
            "background.threads": "2",
            "log.cleaner.threads": "1",
            "log.cleaner.dedupe.buffer.size": str(4 * 1024 * 1024),
            "log.segment.bytes": str(64 * 1024 * 1024),
            "log.retention.check.interval.ms": "60000",
            **self.extra,
        }

    def _write_config(self) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        config = self.root / "server.properties"
        config.write_text("".join(f"{k}={v}\n" for k, v in self.properties().items()))
        return config

    def _java_command(self, main: str, *args: str, jvm: tuple[str, ...] = ()) -> list[str]:
        return [_java(), *JVM_OPTIONS, *jvm, f"-Dlog4j.configuration=file:{LOG4J}",
                "-cp", f"{classpath()}/*", main, *args]

    def _jmx_options(self) -> tuple[str, ...]:
        port = self.jmx_port
        return ("-Dcom.sun.management.jmxremote", f"-Dcom.sun.management.jmxremote.port={port}",
                f"-Dcom.sun.management.jmxremote.rmi.port={port}", "-Dcom.sun.management.jmxremote.host=127.0.0.1",
                "-Djava.rmi.server.hostname=127.0.0.1", "-Dcom.sun.management.jmxremote.authenticate=false",
                "-Dcom.sun.management.jmxremote.ssl=false")

    def jmx_query(self, object_name: str, attributes: str) -> str:
        """One reading of ``object_name``'s ``attributes`` (a pattern may match many MBeans) with Kafka's own
        JmxTool: its CSV output, a header line then a line of values."""
        command = self._java_command("org.apache.kafka.tools.JmxTool", "--jmx-url", self.jmx_url, "--object-name",
                                     object_name, "--attributes", attributes, "--one-time", "true",
                                     "--report-format", "csv")
        return subprocess.run(command, capture_output=True, text=True, timeout=120, check=True).stdout

    def format(self) -> None:
        """Format the storage unless it already is (a restart keeps what the node held)."""
        config = self._write_config()
        if (self.log_dir / "meta.properties").exists():
            return
        command = self._java_command("kafka.tools.StorageTool", "format", "-t", self.cluster_id, "-c", str(config),
                                     "--ignore-formatted", *self.format_args)
        with open(self.log, "ab") as out:
            result = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    timeout=120, check=False)
        if result.returncode != 0:
            raise KafkaUnavailable(f"formatting node {self.node_id}'s storage failed (exit {result.returncode}); "
                                   f"{self.log} ends:\n{tail(self.log)}")

    def launch(self) -> None:
        """Start the process (storage formatted first) without waiting for it to be ready."""
        self.format()
        offset = self.log.stat().st_size if self.log.exists() else 0
        self._log_offset = offset
        command = self._java_command("kafka.Kafka", str(self.root / "server.properties"), jvm=self._jmx_options())
        self.proc = spawn(command, log=self.log)

    def wait_started(self, timeout: float = START_TIMEOUT_S) -> None:
        """Until the broker logs that it started and its port answers; fail with the end of its log."""
        assert self.proc is not None, "launch() first"
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise KafkaUnavailable(f"Apache Kafka node {self.node_id} exited with {self.proc.returncode} "
                                       f"while starting; {self.log} ends:\n{tail(self.log, 25)}")
            if self._logged_started():
                break
            if time.monotonic() > deadline:
                code = self.stop(signal.SIGKILL)
                raise KafkaUnavailable(f"Apache Kafka node {self.node_id} did not start within {timeout:.0f}s "
                                       f"(killed: {code}); {self.log} ends:\n{tail(self.log, 25)}")
            time.sleep(0.1)
        wait_for_port(self.port, max(1.0, deadline - time.monotonic()), self.proc)

    def _logged_started(self) -> bool:
        try:
            with open(self.log, "rb") as log:
                log.seek(getattr(self, "_log_offset", 0))
                return STARTED.search(log.read().decode(errors="replace")) is not None
        except OSError:
            return False

    def stop(self, sig: int = signal.SIGTERM) -> int | None:
        """End the process by its pid: SIGTERM shuts down cleanly, SIGKILL is a crash."""
        proc, self.proc = self.proc, None
        return stop(proc, sig=sig, timeout=30) if proc is not None else None

    def dump_log(self, topic: str, partition: int = 0) -> str:
        """The record batches of a partition's first segment as Kafka's own ``DumpLogSegments`` prints them
        (offsets, producer id and epoch, sequence numbers): what the broker really stored."""
        segment = self.log_dir / f"{topic}-{partition}" / f"{0:020d}.log"
        command = self._java_command("kafka.tools.DumpLogSegments", "--files", str(segment))
        return subprocess.run(command, capture_output=True, text=True, timeout=120, check=True).stdout

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def leader_epochs(self) -> list[int]:
        """The KRaft epochs in which this node became the quorum's leader (the active controller)."""
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return []
        return [int(m.group(2)) for m in LEADER.finditer(text) if int(m.group(1)) == self.node_id]

    def freeze(self) -> None:
        if self.proc is not None:
            os.kill(self.proc.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        if self.proc is not None:
            os.kill(self.proc.pid, signal.SIGCONT)


@dataclass
class KafkaCluster:
    """Apache Kafka in KRaft mode: ``size`` nodes, each broker and controller, on loopback ports."""

    root: Path
    size: int = 1
    nodes: list[KafkaNode] = field(default_factory=list)
    cluster_id: str = ""

    def __post_init__(self) -> None:
        # a cluster started again under the same root (a second ``make run``) keeps its id, and so its data
        id_file = self.root / "cluster.id"
        if not self.cluster_id:
            self.cluster_id = id_file.read_text().strip() if id_file.exists() else new_cluster_id()
        self.root.mkdir(parents=True, exist_ok=True)
        id_file.write_text(self.cluster_id)
        if not self.nodes:
            self.nodes = [KafkaNode(self.root / f"node-{i}", i, self.cluster_id, replication=min(3, self.size))
                          for i in range(1, self.size + 1)]
            voters = ",".join(f"{n.node_id}@127.0.0.1:{n.controller_port}" for n in self.nodes)
            for node in self.nodes:
                node.voters = voters

    @property
    def bootstrap(self) -> str:
        return ",".join(node.bootstrap for node in self.nodes)

    @property
    def proc(self) -> subprocess.Popen[bytes] | None:
        """The first node's process (what a single-node stack records as the broker's pid)."""
        return self.nodes[0].proc

    def start(self, timeout: float = START_TIMEOUT_S) -> KafkaCluster:
        """Start every node that is not running; wait for all of them (a quorum needs most voters up)."""
        started = time.monotonic()
        pending = [node for node in self.nodes if node.proc is None or node.proc.poll() is not None]
        try:
            for node in pending:
                node.launch()
            for node in pending:
                node.wait_started(max(1.0, timeout - (time.monotonic() - started)))
            if self.size > 1:  # "started" precedes the broker's registration with the controller
                _blocking(self.wait_registered(max(1.0, timeout - (time.monotonic() - started))))
        except BaseException:
            for node in pending:
                node.stop(signal.SIGKILL)
            raise
        self.started_in_s = time.monotonic() - started
        return self

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Every node at once: one by one, the last node's controlled shutdown would wait, for its whole
        timeout, on a controller quorum the others took away."""
        def stop_node(node: KafkaNode) -> None:
            with contextlib.suppress(Exception):
                node.stop(sig)

        with concurrent.futures.ThreadPoolExecutor(max(len(self.nodes), 1)) as pool:
            list(pool.map(stop_node, self.nodes))

    # ------------------------------------------------------------ what the fault tests ask a cluster

    def node(self, node_id: int) -> KafkaNode:
        return next(n for n in self.nodes if n.node_id == node_id)

    def _admin(self) -> AIOKafkaAdminClient:
        running = ",".join(n.bootstrap for n in self.nodes if n.running) or self.bootstrap
        return AIOKafkaAdminClient(bootstrap_servers=running, request_timeout_ms=5000)

    async def wait_registered(self, timeout: float = START_TIMEOUT_S) -> None:
        """Until every running node is a broker of the cluster's metadata."""
        wanted = {n.node_id for n in self.nodes if n.running}
        deadline = time.monotonic() + timeout
        seen: set[int] = set()
        while True:
            with contextlib.suppress(Exception):
                admin = self._admin()
                await admin.start()
                try:
                    seen = {b["node_id"] for b in (await admin.describe_cluster())["brokers"]}
                finally:
                    await admin.close()
            if wanted <= seen:
                return
            if time.monotonic() > deadline:
                raise KafkaUnavailable(f"brokers {sorted(wanted - seen)} never registered within {timeout:.0f}s")
            await asyncio.sleep(0.2)

    async def partitions(self, topics: list[str] | None = None,
                         within_s: float = 30.0) -> dict[tuple[str, int], dict[str, object]]:
        """(topic, partition) -> its leader, replicas and in-sync replicas, as the cluster has them now.

        Asked again (up to ``within_s``) when the node asked is the one that just went away: the admin client
        picks any broker of its metadata, a dead one too."""
        deadline = time.monotonic() + within_s
        while True:
            admin = self._admin()
            try:
                await admin.start()
                described = await admin.describe_topics(topics)
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.25)
            finally:
                await admin.close()
        return {(t["topic"], p["partition"]): {"leader": p["leader"], "replicas": list(p["replicas"]),
                                               "isr": list(p["isr"])}
                for t in described if t["error_code"] == 0 for p in t["partitions"]}

    async def leaders(self, topic: str) -> dict[int, int]:
        """Partition -> the node leading it (-1 while it has no leader)."""
        return {p: int(str(d["leader"])) for (_, p), d in (await self.partitions([topic])).items()}

    async def wait_in_sync(self, timeout: float = 120.0) -> float:
        """Until every partition of every topic (internal ones too) has all its replicas in sync and a
        leader; return how long that took."""
        started = time.monotonic()
        lagging: list[tuple[str, int]] = []
        while True:
            with contextlib.suppress(Exception):
                state = await self.partitions()
                lagging = [tp for tp, d in state.items()
                           if set(d["isr"]) != set(d["replicas"]) or d["leader"] == -1]  # type: ignore[call-overload]
                if state and not lagging:
                    return time.monotonic() - started
            if time.monotonic() - started > timeout:
                raise TimeoutError(f"{len(lagging)} partitions not in sync after {timeout:.0f}s: {lagging[:5]}")
            await asyncio.sleep(0.5)

    def active_controller(self) -> KafkaNode:
        """The node that leads the KRaft quorum now: the one elected in the highest epoch any node logged."""
        elected = [(epoch, n.node_id) for n in self.nodes for epoch in n.leader_epochs()]
        if not elected:
            raise KafkaUnavailable("no node has logged being elected the quorum's leader")
        return self.node(max(elected)[1])

    async def wait_new_controller(self, previous: KafkaNode, timeout: float = 60.0) -> KafkaNode:
        """Until a node other than ``previous`` is elected the quorum's leader; return it."""
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(KafkaUnavailable):
                current = self.active_controller()
                if current is not previous and current.running:
                    return current
            if time.monotonic() > deadline:
                raise TimeoutError(f"no new controller elected within {timeout:.0f}s")
            await asyncio.sleep(0.2)


def _blocking(coroutine: Any) -> Any:
    """Run a coroutine to its end from synchronous code, inside a running event loop too (a test)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()
