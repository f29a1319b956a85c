"""The whole platform on one machine: infrastructure plus the four services as processes.

Given URLs always win: ``KAFKA_BOOTSTRAP_SERVERS``, ``DATABASE_URL`` (a server URL; one
database per service is created on it) and ``SMTP_HOST``/``SMTP_PORT``. Otherwise the
embedded default starts Apache Kafka (KRaft, one node, or ``brokers=3``: three nodes, the services
then create their topics with replication 3 and ``min.insync.replicas=2``), PostgreSQL and an SMTP
catcher under the state directory.
With ``TEST_BACKEND=containers`` and a reachable Docker engine, testcontainers starts
``apache/kafka`` and ``postgres`` instead.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from devstack.broker import KafkaCluster
from devstack.postgres import EmbeddedPostgres
from devstack.processes import free_port, spawn, stop, tail
from devstack.smtp import EmbeddedSmtp
from devstack.topics import recreate_topics

SERVICES = ("catalog", "inventory", "orders", "notifications")


def without_password(url: str) -> str:
    """The URL as it may be written down: its password (if any) replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{netloc}"))


def database_name(service: str, prefix: str = "backorder") -> str:
    return f"{prefix}_{service}"


def with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


@dataclass(frozen=True)
class Build:
    """Where a service's code comes from, when not from this checkout: an interpreter, and the source tree it
    runs in (``python -m`` imports from its working directory first). ``devstack.release`` makes one of a
    release's commit."""

    python: Path
    root: Path


@dataclass
class ServiceProcess:
    name: str
    instance: int
    http_port: int
    proc: subprocess.Popen[bytes]
    log: Path
    build: Build | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"


@dataclass
class Stack:
    root: Path
    #: a Kafka cluster to use instead of KAFKA_BOOTSTRAP_SERVERS or a broker of the stack's own
    kafka_bootstrap: str = ""
    database_url: str = ""
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 0
    kafka: KafkaCluster | None = None
    #: how many Kafka nodes the stack starts when it starts its own cluster (1 or 3)
    brokers: int = 1
    postgres: EmbeddedPostgres | None = None
    #: the embedded PostgreSQL's durability settings (``devstack.postgres.FAST`` unless given)
    postgres_durability: dict[str, str] | None = None
    smtp: EmbeddedSmtp | None = None
    services: dict[tuple[str, int], ServiceProcess] = field(default_factory=dict)
    service_env_extra: dict[str, str] = field(default_factory=dict)
    #: databases are ``<db_prefix>_<service>``; tests give each module its own prefix
    db_prefix: str = "backorder"
    #: a PostgreSQL server URL to use instead of DATABASE_URL or an embedded server
    postgres_url: str = ""
    #: the embedded SMTP server offers STARTTLS (self-signed, its certificate is the services' SMTP_CAFILE)
    smtp_tls: bool = False
    #: ... and requires this user to authenticate; the password is the caller's to hand to the services
    #: (SMTP_PASSWORD in the environment or a file under SECRETS_DIR): the stack never writes it anywhere
    smtp_username: str | None = None
    smtp_password: str | None = field(default=None, repr=False)
    #: with a given cluster: delete the contract's topics and create them again, empty (a test module's
    #: clean slate on the test session's broker)
    fresh_topics: bool = False
    _containers: list[Any] = field(default_factory=list)

    @property
    def mail_dir(self) -> Path:
        return self.root / "mail"

    # ------------------------------------------------------------ infrastructure

    def start_infra(self) -> Stack:
        self.root.mkdir(parents=True, exist_ok=True)
        backend = os.environ.get("TEST_BACKEND", "embedded")
        self.kafka_bootstrap = self.kafka_bootstrap or os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "")
        self.database_url = self.postgres_url or os.environ.get("DATABASE_URL", "")
        if backend == "containers" and not (self.kafka_bootstrap and self.database_url):
            self._start_containers()
        if not self.kafka_bootstrap:
            self.kafka = KafkaCluster(self.root / "kafka", size=self.brokers).start()
            self.kafka_bootstrap = self.kafka.bootstrap
        elif self.fresh_topics:
            asyncio.run(recreate_topics(self.kafka_bootstrap))
        if not self.database_url:
            self.postgres = EmbeddedPostgres(self.root / "postgres")
            self.postgres.durability = self.postgres_durability or self.postgres.durability
            self.postgres.start()
            self.database_url = self.postgres.url
        if os.environ.get("SMTP_HOST"):
            self.smtp_host = os.environ["SMTP_HOST"]
            self.smtp_port = int(os.environ.get("SMTP_PORT", "25"))
        else:
            self.smtp = EmbeddedSmtp(self.mail_dir, self.root / "smtp.log",
                                     tls_dir=self.root / "smtp-tls" if self.smtp_tls else None,
                                     username=self.smtp_username, password=self.smtp_password).start()
            self.smtp_port = self.smtp.port
        asyncio.run(self._create_databases())
        self.write_state()
        return self

    def _start_containers(self) -> None:
        from testcontainers.kafka import KafkaContainer
        from testcontainers.postgres import PostgresContainer

        if not self.kafka_bootstrap:
            kafka = KafkaContainer("apache/kafka:3.9.1").with_kraft()
            kafka.start()
            self._containers.append(kafka)
            self.kafka_bootstrap = kafka.get_bootstrap_server()
        if not self.database_url:
            pg = PostgresContainer("postgres:17", driver=None)
            pg.start()
            self._containers.append(pg)
            self.database_url = pg.get_connection_url()

    async def _create_databases(self) -> None:
        conn = await _connect_retry(self.database_url)
        try:
            existing = {r["datname"] for r in await conn.fetch("SELECT datname FROM pg_database")}
            for service in SERVICES:
                name = database_name(service, self.db_prefix)
                if name not in existing:
                    await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    def dsn(self, service: str) -> str:
        return with_database(self.database_url, database_name(service, self.db_prefix))

    # ------------------------------------------------------------ services

    def service_env(self, name: str, http_port: int, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "DATABASE_URL": self.dsn(name),
                "KAFKA_BOOTSTRAP_SERVERS": self.kafka_bootstrap,
                "HTTP_PORT": str(http_port),
                "SMTP_HOST": self.smtp_host,
                "SMTP_PORT": str(self.smtp_port),
                "LOG_FORMAT": "json",
                "PYTHONUNBUFFERED": "1",
                # a crashed instance's partitions move on after 6 s instead of 10 (joining takes half of it)
                "KAFKA_SESSION_TIMEOUT_MS": os.environ.get("KAFKA_SESSION_TIMEOUT_MS", "6000"),
                "KAFKA_HEARTBEAT_INTERVAL_MS": os.environ.get("KAFKA_HEARTBEAT_INTERVAL_MS", "1000"),
            }
        )
        if self.kafka is not None and self.kafka.size > 1:  # replicated topics on the stack's own cluster
            env["KAFKA_TOPIC_REPLICATION"] = str(min(3, self.kafka.size))
        if self.smtp is not None and self.smtp.cafile is not None:
            env["SMTP_CAFILE"] = str(self.smtp.cafile)
        if self.smtp_username:
            env["SMTP_USERNAME"] = self.smtp_username
        env.update(self.service_env_extra)
        env.update(extra or {})
        return env

    def start_service(self, name: str, instance: int = 0, extra_env: dict[str, str] | None = None,
                      build: Build | None = None) -> ServiceProcess:
        """Start (or restart) an instance; ``build``: another build's code (a restart keeps the instance's)."""
        key = (name, instance)
        previous = self.services.get(key)
        port = previous.http_port if previous else free_port()
        build = build or (previous.build if previous else None)
        log = self.root / "logs" / f"{name}-{instance}.log"
        proc = spawn([str(build.python) if build else sys.executable, "-m", f"services.{name}"], log=log,
                     env=self.service_env(name, port, extra_env), cwd=build.root if build else None)
        self.services[key] = ServiceProcess(name, instance, port, proc, log, build)
        self.write_state()
        return self.services[key]

    def stop_service(self, name: str, instance: int = 0, sig: int = signal.SIGTERM) -> int | None:
        service = self.services.get((name, instance))
        if service is None:
            return None
        code = stop(service.proc, sig=sig, timeout=30)
        return code

    def remove_service(self, name: str, instance: int) -> int | None:
        """Stop an instance (if it still runs) and forget it: the stack goes on without it."""
        code = self.stop_service(name, instance)
        self.services.pop((name, instance), None)
        self.write_state()
        return code

    def start_all(self, instances: int = 1) -> None:
        for name in SERVICES:
            for i in range(instances):
                self.start_service(name, i)
        self.wait_ready()

    def wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        pending = dict(self.services)
        while pending and time.monotonic() < deadline:
            for key, service in list(pending.items()):
                if service.proc.poll() is not None:
                    raise RuntimeError(f"{key} exited with {service.proc.returncode}; see {service.log}; it ends:\n"
                                       + tail(service.log))
                if _ready(service.url):
                    del pending[key]
            time.sleep(0.1)
        if pending:
            raise TimeoutError(f"not ready after {timeout}s: {sorted(pending)}")

    def stop_all(self) -> None:
        for key in list(self.services):
            self.stop_service(*key)
        self.services.clear()
        for part in (self.smtp, self.kafka, self.postgres):
            if part is not None:
                part.stop()
        for container in self._containers:
            container.stop()
        self._containers.clear()
        (self.root / "stack.json").unlink(missing_ok=True)

    # ------------------------------------------------------------ state for the CLI

    def write_state(self) -> None:
        state = {
            "kafka_bootstrap": self.kafka_bootstrap,
            "database_url": without_password(self.database_url),
            "smtp": f"{self.smtp_host}:{self.smtp_port}",
            "mail_dir": str(self.mail_dir),
            "services": {
                f"{s.name}-{s.instance}": {"url": s.url, "pid": s.proc.pid,
                                                  "database_url": without_password(self.dsn(s.name))}
                for s in self.services.values()
            },
            "pids": {
                **{f"{s.name}-{s.instance}": s.proc.pid for s in self.services.values() if s.proc.poll() is None},
                **{name: part.proc.pid for name, part in (("postgres", self.postgres), ("smtp", self.smtp))
                   if part is not None and part.proc is not None},
                # every node of the stack's own cluster: a hard-killed run's successor ends all of them
                **{("kafka" if node.node_id == 1 else f"kafka-{node.node_id}"): node.proc.pid
                   for node in (self.kafka.nodes if self.kafka is not None else []) if node.proc is not None},
            },
        }
        (self.root / "stack.json").write_text(json.dumps(state, indent=2))


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/readyz", timeout=1) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return False


async def _connect_retry(url: str, timeout: float = 30.0) -> asyncpg.Connection:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await asyncpg.connect(url)
        except (OSError, asyncpg.PostgresError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)
