"""Broker crash: the services ride it out, publish what was not acknowledged, and lose nothing.

The Apache Kafka broker is killed (``SIGKILL``) while orders are in flight, kept down while the
services go on with what they had fetched (the notifications service sends its queued emails: SMTP
does not need Kafka), then started again on the same log directories and address. The services
are not restarted.

A durable broker keeps what it acknowledged: the topics with their partition counts, every
message, and every consumer group's committed offsets. So here, asserted: every order of the
traffic in flight and of the traffic after the restart is decided exactly once, nothing is
dead-lettered, the stock ledgers still rebuild to their levels, every email went out exactly once,
and every outbox row that was not acknowledged when the broker went down is published after it
is back (found on the broker by event id).

The module starts a broker of its own: the session's is shared by the other modules.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from devstack.client import PlatformClient
from devstack.scenario import Scenario
from devstack.stack import SERVICES, Stack
from shared.contract.topics import all_topic_names
from shared.messaging.topics import topic_specs
from tests.faults import harness as h

pytestmark = [pytest.mark.integration, pytest.mark.faults]

FAST = {"EMAIL_POLL_S": "0.2", "EMAIL_LEASE_S": "8", "SMTP_TIMEOUT_S": "1", "KAFKA_CHECK_S": "0.5"}
BEFORE, AFTER = 300, 150


@pytest.fixture(scope="module")
def own_broker(postgres_server: str, tmp_path_factory: pytest.TempPathFactory,
               request: pytest.FixtureRequest) -> Iterator[Stack]:
    stack = Stack(tmp_path_factory.mktemp("brokerrestart"), db_prefix="brokerrestart", postgres_url=postgres_server)
    with h.platform_of_its_own(stack, request, FAST) as platform:
        yield platform


async def broker_topics(bootstrap: str) -> dict[str, int]:
    """Topic -> partition count, from a metadata request for all topics (which creates none)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
    await admin.start()
    try:
        return {t["topic"]: len(t["partitions"]) for t in await admin.describe_topics(None)
                if not t["topic"].startswith("__")}
    finally:
        await admin.close()


async def unpublished(stack: Stack) -> dict[str, dict[str, str]]:
    """Per service, the outbox rows not acknowledged by the broker: event id -> topic."""
    found: dict[str, dict[str, str]] = {}
    for service in SERVICES:
        rows = await h.query(stack, service, "SELECT event_id::text AS id, topic FROM outbox "
                                             "WHERE published_at IS NULL")
        found[service] = {r["id"]: r["topic"] for r in rows}
    return found


async def test_broker_crash_loses_nothing_it_acknowledged_and_decides_every_order_once(
        own_broker: Stack) -> None:
    stack = own_broker
    kafka = stack.kafka
    assert kafka is not None, "this test crashes a broker of its own (unset KAFKA_BOOTSTRAP_SERVERS)"
    client = await PlatformClient(stack.kafka_bootstrap, all_topic_names()).start()
    workload = h.Workload(client, n_orders=BEFORE + AFTER, seed=11, new_seller_every=0)
    await workload.setup()
    await workload.publish(per_second=2000.0, count=BEFORE)
    # the services are working on them: a third of the orders are allocated when the broker is killed
    await client.wait_for(lambda o: o.type in h.ALLOCATION_OUTCOMES, count=BEFORE // 3, timeout=30)
    kafka.stop(signal.SIGKILL)
    down_at = time.monotonic()
    await client.stop()

    async def emails_drained() -> bool:
        rows = await h.query(stack, "notifications", "SELECT count(*) AS n FROM notifications "
                                                     "WHERE channel = 'email' AND status IN ('pending', 'sending')")
        return rows[0]["n"] == 0

    await h.poll(emails_drained, "the queued emails to be sent while Kafka is down", 30.0)

    async def all_noticed() -> bool:  # each service's broker watch saw the broker go
        return all(h.log_events(stack, s, "kafka_unavailable") for s in SERVICES)

    await h.poll(all_noticed, "every service to notice that Kafka is down", 30.0)
    unacked = await unpublished(stack)
    waiting = {event_id: topic for rows in unacked.values() for event_id, topic in rows.items()}
    for service in SERVICES:
        assert stack.services[(service, 0)].proc.poll() is None, f"{service} died with the broker"
        status, _ = await h.http_json(stack.services[(service, 0)].url + "/healthz")
        assert status == 200
    assert waiting, "nothing was left unacknowledged: the crash did not hit the flow"

    # ---- back on the same log directories and address
    kafka.start()
    up_at = time.monotonic()
    assert await broker_topics(stack.kafka_bootstrap) == {name: n for name, n, _ in topic_specs()}, \
        "the broker came back without the contract's topics as they were"

    async def all_acknowledged() -> bool:
        return not any((await unpublished(stack)).values())

    await h.poll(all_acknowledged, "every outbox row to be published after the restart", 60.0)
    acknowledged_s = time.monotonic() - up_at
    after = await PlatformClient(stack.kafka_bootstrap, all_topic_names()).start()
    try:
        async def all_on_the_broker() -> bool:
            return set(waiting) <= {str(o.value.get("event_id")) for o in after.observed}

        await h.poll(all_on_the_broker, "the unacknowledged rows on the broker, by event id", 30.0)
        in_flight = [workload.order_id(i) for i in range(BEFORE)]
        await h.wait_for_decisions(stack, after, in_flight, within_s=60)
        decided_s = time.monotonic() - up_at

        # ---- new traffic through every service
        scenario = await Scenario(after, stack.mail_dir, timeout=60).run()
        assert scenario.ok, scenario.failure
        workload.client = after
        await workload.publish(per_second=200.0, start=BEFORE, count=AFTER)
        every_order = [workload.order_id(i) for i in range(BEFORE + AFTER)]
        await h.wait_for_decisions(stack, after, every_order, within_s=60)

        verdict = h.Verdict()
        await h.decision_figures(stack, after, every_order, verdict)
        await h.inventory_figures(stack, verdict)
        await h.email_figures(stack, every_order, verdict, within_s=60)
        verdict.dead_letters = h.dead_letters(after)
        print(f"\nbroker crash: {BEFORE} orders in flight ({workload.sent.commands} commands in all), down "
              f"{up_at - down_at:.1f}s; {len(waiting)} outbox rows unacknowledged at the crash "
              f"{ {s: len(r) for s, r in unacked.items()} }, all published {acknowledged_s:.1f}s after the "
              f"restart; the orders in flight all decided {decided_s:.1f}s after it; {verdict.summary()}")
        h.assert_nothing_lost_or_doubled(verdict)
    finally:
        await after.stop()
