"""The fault suite's shared platform.

The tests that do not break the infrastructure (poison messages, hostile input, authorization)
share one stack for the whole ``tests/faults`` package: four services started once saves about
ten seconds a module. The tests that crash or restart something (services, the broker,
PostgreSQL) use the module-scoped ``stack`` of ``tests/conftest.py`` or a stack of their own.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from devstack.client import PlatformClient
from devstack.stack import Stack
from shared.contract.topics import all_topic_names
from tests.conftest import dump_logs_on_failure

#: poison messages: a few quick retries (0.1 s, 0.4 s, 1.6 s) before a message is dead-lettered
SHARED_ENV = {"HANDLER_MAX_ATTEMPTS": "4", "HANDLER_RETRY_BASE_S": "0.1", "EMAIL_POLL_S": "0.2"}


@pytest.fixture(scope="package")
def platform(postgres_server: str, tmp_path_factory: pytest.TempPathFactory,
             request: pytest.FixtureRequest) -> Iterator[Stack]:
    stack = Stack(tmp_path_factory.mktemp("faults"), db_prefix=f"faults_{uuid.uuid4().hex[:6]}",
                  postgres_url=postgres_server)
    stack.service_env_extra.update(SHARED_ENV)
    try:
        stack.start_infra()
        stack.start_all()
        yield stack
    finally:
        stack.stop_all()
        dump_logs_on_failure(stack, request)


@pytest.fixture(scope="package")
async def platform_client(platform: Stack) -> AsyncIterator[PlatformClient]:
    client = await PlatformClient(platform.kafka_bootstrap, all_topic_names()).start()
    try:
        yield client
    finally:
        await client.stop()
