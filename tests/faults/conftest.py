"""The fault suite's shared platform.

The tests that do not break the infrastructure (authorization, hostile input, poison messages,
service crashes - the services come back - and last the search of the logs for secrets) share one
stack for the whole ``tests/faults`` package: four services started once saves about ten seconds a
module. The tests that restart the broker or PostgreSQL use the module-scoped ``stack`` of
``tests/conftest.py`` or a stack of their own.

The shared platform runs the way production does, with secrets: a password in ``DATABASE_URL``
(the embedded server's trust authentication ignores it), a Kafka SASL password in the environment
(unused by the dev stack's PLAINTEXT listener, but there to leak), and an SMTP relay that
requires STARTTLS and authentication, with the password in a file under ``SECRETS_DIR``. Services
log at DEBUG. ``test_transport_security`` searches every log of the package's run for them.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from devstack.client import PlatformClient
from devstack.stack import Stack
from shared.contract.topics import all_topic_names
from tests.faults.harness import platform_of_its_own

#: poison messages: a few quick retries (0.1 s, 0.4 s, 1.6 s) before a message is dead-lettered
SHARED_ENV = {"HANDLER_MAX_ATTEMPTS": "4", "HANDLER_RETRY_BASE_S": "0.1", "EMAIL_POLL_S": "0.2",
              # a killed sender's claimed emails are due again after 10 s, not the default 120 s
              "EMAIL_LEASE_S": "10", "SMTP_TIMEOUT_S": "2"}


@pytest.fixture(scope="package")
def secrets() -> dict[str, str]:
    return {"database": f"db-pw-{uuid.uuid4().hex}", "smtp": f"smtp-pw-{uuid.uuid4().hex}",
            "sasl": f"sasl-pw-{uuid.uuid4().hex}"}


def with_password(url: str, password: str) -> str:
    scheme, rest = url.split("://", 1)
    user, host = rest.split("@", 1)
    return f"{scheme}://{user.split(':')[0]}:{password}@{host}"


@pytest.fixture(scope="package")
def platform(postgres_server: str, kafka_server: str, secrets: dict[str, str],
             tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("faults")
    stack = Stack(root, db_prefix=f"faults_{uuid.uuid4().hex[:6]}", kafka_bootstrap=kafka_server, fresh_topics=True,
                  postgres_url=with_password(postgres_server, secrets["database"]),
                  smtp_tls=True, smtp_username="relay-user", smtp_password=secrets["smtp"])
    (root / "secrets").mkdir()
    (root / "secrets" / "smtp_password").write_text(secrets["smtp"])
    env = {**SHARED_ENV, "SECRETS_DIR": str(root / "secrets"), "LOG_LEVEL": "DEBUG",
           "KAFKA_SASL_USERNAME": "platform", "KAFKA_SASL_PASSWORD": secrets["sasl"]}
    with platform_of_its_own(stack, request, env) as started:
        yield started


@pytest.fixture(scope="package")
async def platform_client(platform: Stack) -> AsyncIterator[PlatformClient]:
    client = await PlatformClient(platform.kafka_bootstrap, all_topic_names()).start()
    try:
        yield client
    finally:
        await client.stop()
