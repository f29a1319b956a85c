"""Fixtures shared by every test: real infrastructure, started by our own code.

* ``postgres_server``: one PostgreSQL for the whole session (embedded, or ``DATABASE_URL``).
* ``kafka_server``: one Apache Kafka broker for the whole session (KRaft, a child process), or
  the cluster ``KAFKA_BOOTSTRAP_SERVERS`` names (whose contract topics the tests delete and
  recreate: never point it at a cluster that holds anything of value).
* ``stack``: per test module, the contract's topics deleted and created again on the session's
  broker, fresh databases on the session's server, and an SMTP catcher; no services yet. Modules
  start the services they need as separate processes with ``stack.start_service``. A test that
  breaks the broker starts one of its own.
* ``client``: a Kafka client on the module's broker that sees every event topic.
* ``fresh_db``: a database cloned from a migrated template, for repository tests.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from devstack.broker import KafkaCluster
from devstack.client import PlatformClient
from devstack.postgres import EmbeddedPostgres
from devstack.stack import Stack, with_database
from shared.contract.topics import all_topic_names
from shared.persistence.migrate import migrate


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_configure(config: pytest.Config) -> None:
    """Each session gets its own temp root: pytest's default numbered directories are pruned by any
    other session that starts meanwhile, which would delete a running PostgreSQL's data directory.

    SIGTERM (a CI timeout, ``kill``) interrupts the run like Ctrl-C, so that the fixtures' teardown
    and ``devstack.processes``' exit handler end the broker, PostgreSQL and the services it started."""
    signal.signal(signal.SIGTERM, _interrupt)
    if not config.option.basetemp and not hasattr(config, "workerinput"):
        config.option.basetemp = tempfile.mkdtemp(prefix="backorder-tests-")
        config._backorder_basetemp = config.option.basetemp  # type: ignore[attr-defined]


def pytest_unconfigure(config: pytest.Config) -> None:
    path = getattr(config, "_backorder_basetemp", None)
    if path and not os.environ.get("KEEP_TEST_TMP"):
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if os.environ.get("DATABASE_URL"):
        yield os.environ["DATABASE_URL"]
        return
    server = EmbeddedPostgres(tmp_path_factory.mktemp("postgres")).start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def kafka_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaCluster | None]:
    """The session's own broker (None when ``KAFKA_BOOTSTRAP_SERVERS`` names a cluster to use instead)."""
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        yield None
        return
    cluster = KafkaCluster(tmp_path_factory.mktemp("kafka")).start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def kafka_server(kafka_cluster: KafkaCluster | None) -> str:
    return kafka_cluster.bootstrap if kafka_cluster is not None else os.environ["KAFKA_BOOTSTRAP_SERVERS"]


def _module_prefix(request: pytest.FixtureRequest) -> str:
    name = re.sub(r"[^a-z0-9]+", "_", request.module.__name__.rsplit(".", 1)[-1].lower())
    return f"t_{name[:30]}_{uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="module")
def stack(postgres_server: str, kafka_server: str, tmp_path_factory: pytest.TempPathFactory,
          request: pytest.FixtureRequest) -> Iterator[Stack]:
    prefix = _module_prefix(request)
    platform = Stack(tmp_path_factory.mktemp(prefix), db_prefix=prefix, postgres_url=postgres_server,
                     kafka_bootstrap=kafka_server, fresh_topics=True)
    try:
        platform.start_infra()
        yield platform
    finally:
        platform.stop_all()
        dump_logs_on_failure(platform, request)


def dump_logs_on_failure(platform: Stack, request: pytest.FixtureRequest) -> None:
    if getattr(request.node, "_failed", False):
        for log in sorted((platform.root / "logs").glob("*.log")):
            print(f"----- {log.name} (last 40 lines)")
            print("\n".join(log.read_text(errors="replace").splitlines()[-40:]))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        item.module._failed = True  # type: ignore[union-attr]
        if item.parent is not None:
            item.parent._failed = True  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
async def client(stack: Stack) -> AsyncIterator[PlatformClient]:
    platform_client = await PlatformClient(stack.kafka_bootstrap, all_topic_names()).start()
    try:
        yield platform_client
    finally:
        await platform_client.stop()


_templates: dict[str, str] = {}
_template_lock = asyncio.Lock()


@pytest.fixture
async def fresh_db(postgres_server: str) -> AsyncIterator[object]:
    """``await fresh_db("inventory")`` -> DSN of a new database with that service's migrations."""
    created: list[str] = []

    async def make(service: str) -> str:
        async with _template_lock:
            if service not in _templates:
                template = f"tpl_{service}_{uuid.uuid4().hex[:6]}"
                await _admin(postgres_server, f'CREATE DATABASE "{template}"')
                await migrate(with_database(postgres_server, template),
                              Path(__file__).parents[1] / "services" / service / "migrations")
                _templates[service] = template
        name = f"db_{service}_{uuid.uuid4().hex[:8]}"
        await _admin(postgres_server, f'CREATE DATABASE "{name}" TEMPLATE "{_templates[service]}"')
        created.append(name)
        return with_database(postgres_server, name)

    yield make
    for name in created:
        await _admin(postgres_server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _admin(url: str, sql: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()
