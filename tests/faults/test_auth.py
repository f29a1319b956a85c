"""Authentication and authorisation on a real broker: SASL_SSL with SCRAM-SHA-512, and ACLs.

The module starts a Kafka node of its own (``devstack.secure_kafka``): TLS with a CA this test made,
SCRAM-SHA-512 users (one per service, one for the operator CLI, one for KEDA, and the super user
``admin`` that provisions the topics), and the ``StandardAuthorizer`` with nothing allowed without
an ACL. The ACLs are ``kafka_access``, from the contract's topic table and the services'
definitions: the same table that renders the prod overlay's Strimzi ``KafkaUser`` resources
(tests/deploy/test_topics.py checks those against it).

The services run as production does: SASL_SSL, their own user, ``KAFKA_PROVISION_TOPICS=false``.
The test client is the operator CLI's user.
"""

from __future__ import annotations

import asyncio
import importlib
import secrets
import time
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaError, TopicAuthorizationFailedError

from devstack.client import PlatformClient
from devstack.scenario import Scenario
from devstack.secure_kafka import SecureKafka
from devstack.stack import SERVICES, Stack
from shared.contract.catalog import RegisterSeller
from shared.contract.topics import all_topic_names
from shared.messaging.access import OPERATOR_USER, Grant, kafka_access
from shared.messaging.broker import aiokafka_security
from shared.messaging.topics import ensure_topics
from tests.faults import harness as h

pytestmark = [pytest.mark.integration, pytest.mark.faults]

ACCESS = kafka_access([importlib.import_module(f"services.{name}.app").DEFINITION for name in SERVICES])
FAST = {"KAFKA_CHECK_S": "0.5", "OUTBOX_POLL_S": "0.2", "EMAIL_POLL_S": "0.2", "KAFKA_PROVISION_TOPICS": "false"}


@pytest.fixture(scope="module")
def secure_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureKafka]:
    users = {user: secrets.token_urlsafe(18) for user in ACCESS}
    kafka = SecureKafka(tmp_path_factory.mktemp("securekafka"), users).start()
    try:
        kafka.grant(ACCESS)
        asyncio.run(ensure_topics(kafka.settings(), force=True))  # as production's provisioning: the admin's job
        yield kafka
    finally:
        kafka.stop()


@pytest.fixture(scope="module")
def secure_platform(secure_kafka: SecureKafka, postgres_server: str, tmp_path_factory: pytest.TempPathFactory,
                    request: pytest.FixtureRequest) -> Iterator[Stack]:
    from tests.conftest import dump_logs_on_failure

    stack = Stack(tmp_path_factory.mktemp("auth"), db_prefix="auth", postgres_url=postgres_server,
                  kafka_bootstrap=secure_kafka.bootstrap)
    stack.service_env_extra.update(FAST)
    try:
        stack.start_infra()
        for name in SERVICES:
            stack.start_service(name, 0, extra_env=secure_kafka.env(name))
        stack.wait_ready()
        yield stack
    finally:
        stack.stop_all()
        dump_logs_on_failure(stack, request)


@pytest.fixture(scope="module")
async def operator(secure_platform: Stack, secure_kafka: SecureKafka) -> AsyncIterator[PlatformClient]:
    client = await PlatformClient(secure_kafka.bootstrap, all_topic_names(), "backorder-cli",
                                  settings=secure_kafka.settings(OPERATOR_USER)).start()
    try:
        yield client
    finally:
        await client.stop()


def test_auth_the_broker_holds_exactly_the_acls_of_the_topic_table(secure_kafka: SecureKafka) -> None:
    assert secure_kafka.acls() == ACCESS


async def test_auth_each_service_works_with_its_own_user_and_nothing_more(
        secure_platform: Stack, operator: PlatformClient) -> None:
    """The whole scenario (every service, every topic it reads and writes) through the ACLs: least privilege
    is enough."""
    result = await Scenario(operator, secure_platform.mail_dir, timeout=60).run()
    assert result.ok, result.failure
    assert not h.dead_letters(operator)


async def _refused(settings_kwargs: dict[str, object], bootstrap: str, attempt: str, topic: str) -> BaseException:
    """What a client gets when it tries ``attempt`` (``write`` or ``read``) on ``topic``."""
    try:
        if attempt == "write":
            producer = AIOKafkaProducer(bootstrap_servers=bootstrap, request_timeout_ms=5000, **settings_kwargs)
            await asyncio.wait_for(producer.start(), 20)
            try:
                await asyncio.wait_for(producer.send_and_wait(topic, b"{}"), 20)
            finally:
                await producer.stop()
        else:
            consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=f"intruder-{topic}",
                                        request_timeout_ms=5000, **settings_kwargs)
            await asyncio.wait_for(consumer.start(), 20)
            try:
                await asyncio.wait_for(consumer.getmany(timeout_ms=3000), 20)
            finally:
                await consumer.stop()
    except (KafkaError, TimeoutError, OSError) as exc:
        return exc
    raise AssertionError(f"{attempt} on {topic} was allowed")


async def test_auth_a_client_without_credentials_or_rights_is_refused(secure_kafka: SecureKafka) -> None:
    bootstrap = secure_kafka.bootstrap
    # TLS but no SASL: the broker never gets past the handshake it expects
    anonymous = aiokafka_security(secure_kafka.settings(""))
    refused = await _refused(anonymous, bootstrap, "write", "orders.commands")
    # a wrong password for a real user
    wrong = aiokafka_security(secure_kafka.settings("orders", "not-the-password"))
    refused_password = await _refused(wrong, bootstrap, "write", "orders.commands")
    assert "not-the-password" not in repr(refused_password)
    # a real user beyond its rights: catalog may neither write orders' topics nor read what it does not consume
    catalog = aiokafka_security(secure_kafka.settings("catalog"))
    denied_write = await _refused(catalog, bootstrap, "write", "orders.events")
    denied_read = await _refused(catalog, bootstrap, "read", "orders.commands")
    assert isinstance(denied_write, TopicAuthorizationFailedError), repr(denied_write)
    assert isinstance(denied_read, TopicAuthorizationFailedError | KafkaError), repr(denied_read)
    print(f"\nrefused: no credentials {refused!r}; wrong password {refused_password!r}; catalog writing "
          f"orders.events {denied_write!r}; catalog reading orders.commands {denied_read!r}")


async def test_auth_a_wrong_password_keeps_the_service_unready_until_the_secret_is_fixed(
        secure_platform: Stack, secure_kafka: SecureKafka) -> None:
    """A second catalog instance starts with a wrong password: it answers /readyz with 503, logs why without
    the secret, retries with a growing delay (no crash loop: the same process), and is ready once started
    again with the right one. The password is read at start (like every secret: docs/operations.md), so
    fixing it means restarting the instance, as a Kubernetes rollout does."""
    stack = secure_platform
    wrong = f"wrong-{secrets.token_urlsafe(12)}"
    service = stack.start_service("catalog", 1, extra_env=secure_kafka.env("catalog", wrong))
    started = time.monotonic()
    try:
        async def unready_and_said_why() -> bool:
            return await h.readyz(stack, "catalog", 1) == 503 and bool(h.log_events(stack, "catalog",
                                                                                    "kafka_not_ready", 1))

        await h.poll(unready_and_said_why, "the instance to be unready and to log why", 60)

        # not a synchronisation: what is tested is the retry rate over a span of wall time (attempts per second)
        await asyncio.sleep(15)
        assert service.proc.poll() is None, "the instance exited instead of waiting for a working secret"
        assert await h.readyz(stack, "catalog", 1) == 503
        attempts = h.log_events(stack, "catalog", "kafka_not_ready", 1)
        log_text = service.log.read_text(errors="replace")
        assert wrong not in log_text, "the wrong password was logged"
        assert secure_kafka.users["catalog"] not in log_text
        # the reason, from aiokafka's logger, once per attempt: the service's own kafka_not_ready line only
        # says that bootstrapping failed
        reasons = [line for line in log_text.splitlines() if "SaslAuthenticationFailed" in line]
        assert reasons and "invalid credentials with SASL mechanism SCRAM-SHA-512" in reasons[-1], log_text[-2000:]
        assert len(reasons) <= len(attempts) + 1, "more than one reason line per attempt"
        gaps = [b - a for a, b in zip(_times(attempts), _times(attempts)[1:], strict=False)]
        assert gaps and gaps[-1] > gaps[0], f"no back-off between attempts: {gaps}"
        elapsed = time.monotonic() - started
        assert len(attempts) <= elapsed, f"{len(attempts)} attempts in {elapsed:.0f}s: a retry loop without back-off"

        # ---- the secret fixed: the instance restarted with it (the same process cannot re-read it)
        # a stop while it retries: the retry loop watches SIGTERM and leaves cleanly
        stopping = time.monotonic()
        code = stack.stop_service("catalog", 1)
        stop_s = time.monotonic() - stopping
        assert code == 0 and stop_s < 10, f"stopped in {stop_s:.1f}s with exit {code}"
        fixed_at = time.monotonic()
        stack.start_service("catalog", 1, extra_env=secure_kafka.env("catalog"))

        async def ready() -> bool:
            return await h.readyz(stack, "catalog", 1) == 200

        await h.poll(ready, "the instance to be ready with the right password", 60)
        print(f"\nwrong password: stopped in {stop_s:.1f}s (exit {code}); unready for {stopping - started:.0f}s, "
              f"{len(attempts)} attempts "
              f"(delays {[round(g, 1) for g in gaps]} s), the reason logged as {reasons[-1][:160]!r}; process alive; "
              f"ready {time.monotonic() - fixed_at:.1f}s after the restart with the right one")
    finally:
        stack.remove_service("catalog", 1)


def _times(entries: list[dict[str, object]]) -> list[float]:
    from datetime import datetime

    return [datetime.fromisoformat(str(e["timestamp"]).replace("Z", "+00:00")).timestamp() for e in entries]


async def _metric(url: str, name: str, **labels: str) -> float:
    async with aiohttp.ClientSession() as session, session.get(f"{url}/metrics") as response:
        text = await response.text()
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


async def test_auth_a_denied_write_stays_in_the_outbox_and_raises_the_alert(
        secure_platform: Stack, secure_kafka: SecureKafka, operator: PlatformClient) -> None:
    """catalog loses its right to write catalog.events: what it decides stays in its outbox, unpublished,
    and ``backorder_outbox_send_failures_total{error="TopicAuthorizationFailedError"}`` rises; once the ACL
    is back, the rows go out, each once."""
    stack = secure_platform
    url = stack.services[("catalog", 0)].url
    revoked = {"catalog": [Grant("TOPIC", "catalog.events", "WRITE")]}
    failures = "backorder_outbox_send_failures_total"
    before = await _metric(url, failures, topic="catalog.events")
    secure_kafka.grant(revoked, revoke=True)
    revoked_at = time.monotonic()
    sellers = [f"seller-denied-{secrets.token_hex(3)}-{i}" for i in range(5)]
    try:
        for seller in sellers:
            await operator.send(RegisterSeller(seller_id=seller, region="US", backorder_eligible=True))

        async def waiting() -> list[str]:
            rows = await h.query(stack, "catalog", "SELECT event_id::text AS id FROM outbox "
                                                   "WHERE published_at IS NULL AND topic = 'catalog.events'")
            return [r["id"] for r in rows] if len(rows) >= len(sellers) else []

        held = await h.poll(waiting, "catalog's decisions to wait in its outbox", 60)

        async def alerted() -> float:
            value = await _metric(url, failures, topic="catalog.events", error="TopicAuthorizationFailedError")
            return value if value > before else 0.0

        refused = await h.poll(alerted, "the send-failure counter to rise", 60)

        async def two_more_rounds() -> bool:  # the relay tried twice more: still nothing marked, nothing on the topic
            return await _metric(url, failures, topic="catalog.events", error="TopicAuthorizationFailedError") \
                >= refused + 2

        await h.poll(two_more_rounds, "two more refused sends", 60)
        still = await h.query(stack, "catalog", "SELECT count(*) AS n FROM outbox WHERE published_at IS NULL "
                                                "AND event_id = any($1::uuid[])", held)
        assert still[0]["n"] == len(held), "a refused row was marked as sent"
        assert not [o for o in operator.observed if o.topic == "catalog.events" and o.payload.get("seller_id")
                    in sellers], "a refused write reached the topic"
        assert stack.services[("catalog", 0)].proc.poll() is None
    finally:
        secure_kafka.grant(revoked)
    granted_at = time.monotonic()

    async def all_told() -> bool:
        told = [o for o in operator.observed if o.topic == "catalog.events" and o.payload.get("seller_id") in sellers]
        return len({o.payload["seller_id"] for o in told}) == len(sellers)

    # a refused batch spends aiokafka's idempotent producer (its sequence numbers are not taken back: every later
    # send fails with OutOfOrderSequenceNumber); the relay then has publishing start a new one
    await h.poll(all_told, "every held decision on catalog.events once the ACL is back", 60)
    renewed = h.log_events(stack, "catalog", "producer_renewing")
    # a marker: one more decision, written to the outbox after the held rows, reaches the topic after them
    marker = f"seller-marker-{secrets.token_hex(3)}"
    await operator.send(RegisterSeller(seller_id=marker, region="US", backorder_eligible=True))
    await operator.wait_for(lambda o: o.topic == "catalog.events" and o.payload.get("seller_id") == marker,
                            timeout=60)
    copies = [str(o.value["event_id"]) for o in operator.observed if o.topic == "catalog.events"
              and o.payload.get("seller_id") in sellers]
    assert set(copies) == set(held), "the events on the topic are the rows that waited"
    published = await h.query(stack, "catalog", "SELECT count(*) AS n FROM outbox WHERE published_at IS NOT NULL "
                                                "AND event_id = any($1::uuid[])", held)
    assert published[0]["n"] == len(held)
    print(f"\ndenied write: {len(held)} catalog events held in the outbox for {granted_at - revoked_at:.1f}s, "
          f"{refused - before:.0f} refused sends counted, 0 marked sent, 0 on the topic; all {len(held)} "
          f"delivered {time.monotonic() - granted_at:.1f}s after the grant, no restart, producer renewed "
          f"{len(renewed)} times ({len(copies)} records, "
          f"{len(copies) - len(set(copies))} copies)")
