"""Broker restart: the services reconnect by themselves, publish what was not acknowledged, and go on.

The broker is stopped while orders are in flight, kept down while the services go on with
what they had fetched (and the notifications service sends its queued emails: SMTP does not
need Kafka), then started again on the same address. The services are not restarted.

What the embedded broker loses, and what is therefore expected here:

* Tansu keeps everything in memory: a restart loses every topic, every message, every consumer
  group and its committed offsets. Messages published and acknowledged before the restart but
  not yet consumed are gone with it - the commands the test sent and the events the services
  had published. Orders whose ``OrderPlaced`` or allocation outcome was among them stay
  undecided; the test counts them and says so. A durable broker (Apache Kafka, replication
  factor 3, ``acks=all``, ``min.insync.replicas=2``) keeps topics, messages and offsets across a
  restart: there the same fault loses nothing, and consumers resume at their committed offsets.
* What holds on any broker, and is asserted: no service needs a restart; the topics come back
  with the contract's partition counts (provisioned by the services' topic guard, never
  auto-created with the broker's default); every outbox row that was not acknowledged when the
  broker went down is published after it is back (found on the new broker by event id);
  nothing is applied twice, nothing is dead-lettered, the stock ledgers still rebuild to their
  levels and every email went out exactly once; and new traffic flows through all four
  services: the full happy path and a new batch of orders, each decided once.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from devstack.client import Observed, PlatformClient
from devstack.scenario import Scenario
from devstack.stack import SERVICES, Stack
from services.notifications.handlers import UNKNOWN_BUYER
from shared.contract.topics import all_topic_names
from shared.messaging.topics import INCARNATION_PREFIX, topic_specs
from tests.faults import harness as h

pytestmark = [pytest.mark.integration, pytest.mark.faults]

FAST = {"EMAIL_POLL_S": "0.2", "EMAIL_LEASE_S": "8", "SMTP_TIMEOUT_S": "1", "KAFKA_CHECK_S": "0.5"}
BEFORE, AFTER = 300, 150


@pytest.fixture(scope="module", autouse=True)
def platform(stack: Stack) -> Iterator[Stack]:
    stack.service_env_extra.update(FAST)
    stack.start_all()
    yield stack


async def broker_topics(bootstrap: str) -> dict[str, int]:
    """Topic -> partition count, from a metadata request for all topics (which creates none)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
    await admin.start()
    try:
        return {t["topic"]: len(t["partitions"]) for t in await admin.describe_topics(None)}
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


async def test_broker_restart_services_reconnect_republish_unacknowledged_and_go_on(stack: Stack) -> None:
    assert stack.kafka is not None, "this test restarts the embedded broker"
    before = await PlatformClient(stack.kafka_bootstrap, all_topic_names()).start()
    try:
        workload = h.Workload(before, n_orders=BEFORE + AFTER, seed=11, new_seller_every=0)
        await workload.setup()
        await workload.publish(per_second=2000.0, count=BEFORE)
        # the services are working on them: a third of the orders are allocated when the broker crashes
        await before.wait_for(lambda o: o.type in h.ALLOCATION_OUTCOMES, count=BEFORE // 3, timeout=30)
        stack.kafka.stop(signal.SIGKILL)
        down_at = time.monotonic()
    finally:
        await before.stop()

    async def emails_drained() -> bool:
        rows = await h.query(stack, "notifications", "SELECT count(*) AS n FROM notifications "
                                                     "WHERE channel = 'email' AND status IN ('pending', 'sending')")
        return rows[0]["n"] == 0

    await h.poll(emails_drained, "the queued emails to be sent while Kafka is down", 30.0)

    async def all_noticed() -> bool:  # each service's topic guard saw the broker go
        return all(h.log_events(stack, s, "kafka_unavailable") for s in SERVICES)

    await h.poll(all_noticed, "every service to notice that Kafka is down", 30.0)
    unacked = await unpublished(stack)
    waiting = {event_id: topic for rows in unacked.values() for event_id, topic in rows.items()}
    for service in SERVICES:
        assert stack.services[(service, 0)].proc.poll() is None, f"{service} died with the broker"
        status, _ = await h.http_json(stack.services[(service, 0)].url + "/healthz")
        assert status == 200
    assert waiting, "nothing was left unacknowledged: the restart did not hit the flow"

    # ---- back on the same address, empty
    stack.kafka.start()
    up_at = time.monotonic()
    expected = {name: partitions for name, partitions, _ in topic_specs()}

    async def provisioned() -> bool:
        found = await broker_topics(stack.kafka_bootstrap)
        return {t: n for t, n in found.items() if not t.startswith(INCARNATION_PREFIX)} == expected

    await h.poll(provisioned, "the services to provision the contract's topics again", 30.0)
    provisioned_s = time.monotonic() - up_at

    async def all_acknowledged() -> bool:
        return not any((await unpublished(stack)).values())

    await h.poll(all_acknowledged, "every outbox row to be published after the restart", 60.0)
    after = await PlatformClient(stack.kafka_bootstrap, all_topic_names()).start()
    try:
        async def all_on_the_broker() -> bool:
            return set(waiting) <= {str(o.value.get("event_id")) for o in after.observed}

        try:
            await h.poll(all_on_the_broker, "the unacknowledged rows on the new broker, by event id", 30.0)
        except AssertionError:
            seen = {str(o.value.get("event_id")) for o in after.observed}
            absent = {(service, topic) for service, rows in unacked.items() for event_id, topic in rows.items()
                      if event_id not in seen}
            raise AssertionError(f"never on the new broker: {len(set(waiting) - seen)} rows of {absent}") from None

        # ---- new traffic through every service
        scenario = await Scenario(after, stack.mail_dir, timeout=60).run()
        assert scenario.ok, scenario.failure
        workload.client = after
        new_orders = [workload.order_id(i) for i in range(BEFORE, BEFORE + AFTER)]
        await workload.publish(per_second=200.0, start=BEFORE, count=AFTER)
        await h.wait_for_decisions(stack, after, new_orders, within_s=60)
        recovered_s = time.monotonic() - up_at

        verdict = h.Verdict()
        await h.decision_figures(stack, after, new_orders, verdict)
        await h.inventory_figures(stack, verdict)
        await h.email_figures(stack, new_orders, verdict, within_s=60)
        verdict.dead_letters = h.dead_letters(after)
        lost = await lost_with_the_broker(stack, workload, BEFORE)
        old = h.Verdict()  # the orders in flight: some may be undecided (lost with the broker), none twice
        old_orders = [workload.order_id(i) for i in range(BEFORE)]
        await h.decision_figures(stack, Observations(before.observed + after.observed), old_orders,  # type: ignore[arg-type]
                                 old)
        # an email whose order's OrderPlaced (the buyer's address) was lost with the broker fails, and says so
        await h.email_figures(stack, old_orders, old, within_s=60, failed_ok=True)
        print(f"\nbroker restart: {BEFORE} orders in flight ({workload.sent.commands} commands in all), down "
              f"{up_at - down_at:.1f}s; {len(waiting)} outbox rows unacknowledged at the restart "
              f"{ {s: len(r) for s, r in unacked.items()} }, all published again; topics provisioned "
              f"{provisioned_s:.1f}s after the restart, new traffic decided {recovered_s:.1f}s after it; "
              f"lost with the in-memory broker: {lost}, emails failed for want of the buyer's address "
              f"{sum(old.emails_failed.values())}; in flight: {old.summary()}; after the restart: {verdict.summary()}")
        h.assert_nothing_lost_or_doubled(verdict)
        assert not old.double_decisions and not old.double_allocations, old.summary()
        assert old.emails_duplicated == 0 and not old.emails_missing and not old.emails_unexpected
        assert set(old.emails_failed) <= {UNKNOWN_BUYER}, old.emails_failed
        assert lost["decided"] + lost["PlaceOrder lost"] + lost["OrderPlaced lost"] + \
            lost["allocation outcome lost"] == BEFORE
    finally:
        await after.stop()


@dataclass
class Observations:
    """What two clients saw, before and after the restart, as one."""

    observed: list[Observed]


async def lost_with_the_broker(stack: Stack, workload: h.Workload, before: int) -> dict[str, Any]:
    """The orders in flight that the in-memory broker's restart left undecided, by where the message was."""
    old = [workload.order_id(i) for i in range(before)]
    rows = {r["order_id"]: r for r in await h.query(
        stack, "orders", "SELECT order_id, decided_at FROM orders WHERE order_id = any($1::text[])", old)}
    decided = {r["order_id"] for r in await h.query(
        stack, "inventory", "SELECT order_id FROM order_decisions WHERE order_id = any($1::text[])", old)}
    return {
        "orders": len(old),
        "decided": sum(1 for o in old if o in rows and rows[o]["decided_at"] is not None),
        "PlaceOrder lost": sum(1 for o in old if o not in rows),
        "OrderPlaced lost": sum(1 for o in old if o in rows and o not in decided),
        "allocation outcome lost": sum(1 for o in old if o in decided and rows[o]["decided_at"] is None),
    }
