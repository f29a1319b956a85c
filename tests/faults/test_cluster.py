"""Broker faults on a 3-node Apache Kafka cluster, with two instances of every service.

The module starts a stack of its own (``Stack(brokers=3)``): three KRaft nodes, each broker and
controller voter, every topic (internal ones too) with replication 3 and ``min.insync.replicas=2``,
producers with ``acks=all`` and idempotence; two instances of each service. Each test publishes
1,000 orders (``harness.Workload``: one or two lines, restocks, cancellations, new sellers) and
breaks the cluster while they flow:

* ``SIGKILL`` of the broker leading most partitions of ``orders.commands``, restarted 10 s later;
* ``SIGKILL`` of the active KRaft controller, restarted once a new one is elected;
* a rolling restart (``SIGTERM``) of the three brokers, each back in sync before the next;
* a broker frozen (``SIGSTOP``) for 15 s, longer than its session with the controller (9 s) and the
  consumers' (6 s), then resumed;
* two brokers killed at once: writes stop (fewer in-sync replicas than 2), the outboxes keep what
  was not acknowledged, and once the brokers are back everything is delivered once.

Then the end state is checked as in the other fault tests: every order decided once, the ledgers
rebuild to their levels, nothing oversold, every email received once, nothing dead-lettered; and
the cluster is back in sync before the next test. Each test prints its figures (README,
"Reliability").

These tests take minutes on two cores: they carry the ``cluster`` marker, which ``make test`` leaves
out and CI runs in a command of its own (``.ci/run``).
"""

from __future__ import annotations

import asyncio
import itertools
import signal
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from devstack.broker import KafkaCluster, KafkaNode
from devstack.client import PlatformClient
from devstack.stack import SERVICES, Stack
from shared.contract.orders import OrderLine, PlaceOrder
from shared.contract.topics import all_topic_names
from tests.faults import harness as h

pytestmark = [pytest.mark.integration, pytest.mark.faults, pytest.mark.cluster]

ORDERS = 1000
PER_SECOND = 60.0
#: the fault strikes when this many orders have been published
STRIKE_AT = 250
INSTANCES = 2
FAST = {"EMAIL_POLL_S": "0.2", "EMAIL_LEASE_S": "8", "SMTP_TIMEOUT_S": "2", "KAFKA_CHECK_S": "0.5"}


@pytest.fixture(scope="module")
def cluster_platform(postgres_server: str, tmp_path_factory: pytest.TempPathFactory,
                     request: pytest.FixtureRequest) -> Iterator[Stack]:
    from tests.conftest import dump_logs_on_failure

    stack = Stack(tmp_path_factory.mktemp("cluster"), db_prefix="cluster", postgres_url=postgres_server, brokers=3)
    stack.service_env_extra.update(FAST)
    try:
        stack.start_infra()
        stack.start_all(instances=INSTANCES)
        yield stack
    finally:
        stack.stop_all()
        dump_logs_on_failure(stack, request)


@pytest.fixture(scope="module")
async def cluster_client(cluster_platform: Stack) -> AsyncIterator[PlatformClient]:
    client = await PlatformClient(cluster_platform.kafka_bootstrap, all_topic_names()).start()
    try:
        yield client
    finally:
        await client.stop()


def kafka_of(stack: Stack) -> KafkaCluster:
    assert stack.kafka is not None and stack.kafka.size == 3, "these tests break a 3-node cluster of their own"
    return stack.kafka


async def restart(node: KafkaNode) -> None:
    """Start a stopped node again on its log directory and ports (blocking work off the event loop)."""
    await asyncio.to_thread(node.launch)
    await asyncio.to_thread(node.wait_started)


@dataclass
class Run:
    """What one test measured."""

    fault: str
    verdict: h.Verdict = field(default_factory=h.Verdict)
    commands: int = 0
    published_s: float = 0.0
    #: the longest the test client waited for a write's acknowledgement (one order to the next)
    longest_write_stall_s: float = 0.0
    #: from the fault's end (the broker back, or resumed) to every order decided
    decided_after_s: float = 0.0
    #: from the fault's end to every replica back in sync
    in_sync_after_s: float = 0.0
    #: from the fault's end to every consumer group's committed offsets at the end of its topics
    caught_up_after_s: float = 0.0
    notes: str = ""

    def report(self) -> str:
        v = self.verdict
        return (f"\n{self.fault}: {v.orders} orders in flight ({self.commands} commands, published in "
                f"{self.published_s:.1f}s, longest write stall {self.longest_write_stall_s:.1f}s); {self.notes}; "
                f"every order decided {self.decided_after_s:.1f}s and "
                f"all replicas in sync {self.in_sync_after_s:.1f}s, every group caught up "
                f"{self.caught_up_after_s:.1f}s after the fault ended; lost "
                f"{len(v.missing_decisions)}, decided twice {len(v.double_decisions)}, emails duplicated "
                f"{v.emails_duplicated}; {v.summary()}")


async def lag(stack: Stack) -> dict[str, int]:
    """Per service, the records its consumer group has not committed yet, over the topics it reads."""
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.kafka_bootstrap, request_timeout_ms=5000)
    consumer = AIOKafkaConsumer(bootstrap_servers=stack.kafka_bootstrap, enable_auto_commit=False)
    await admin.start()
    await consumer.start()
    try:
        found = {}
        for service in SERVICES:
            committed = await admin.list_consumer_group_offsets(service)
            ends = await consumer.end_offsets(list(committed)) if committed else {}
            found[service] = sum(ends[tp] - max(0, offset.offset) for tp, offset in committed.items())
        return found
    finally:
        await consumer.stop()
        await admin.close()


async def settle(stack: Stack, client: PlatformClient, workload: h.Workload, run: Run, ended_at: float) -> None:
    """Wait for every decision and a cluster in sync, gather the figures, check them."""
    orders = list(workload.sent.orders)
    await h.wait_for_decisions(stack, client, orders, within_s=240)
    run.decided_after_s = time.monotonic() - ended_at
    await kafka_of(stack).wait_in_sync(timeout=120)
    run.in_sync_after_s = time.monotonic() - ended_at
    stack.wait_ready(timeout=60)

    behind: dict[str, int] = {}

    async def consumed() -> bool:  # else the emails still to be queued would go uncounted
        nonlocal behind
        behind = {group: n for group, n in (await lag(stack)).items() if n}
        return not behind

    try:  # one run in three after a SIGSTOP, a group's committed offsets trailed for minutes: reported as a figure
        await h.poll(consumed, "every consumer group to have read its topics to their end", 300, every_s=1.0)
    except AssertionError:
        raise AssertionError(f"consumer groups still behind 300 s after the decisions: {behind}") from None
    run.caught_up_after_s = time.monotonic() - ended_at
    await h.decision_figures(stack, client, orders, run.verdict)
    await h.inventory_figures(stack, run.verdict)
    await h.email_figures(stack, orders, run.verdict, within_s=120)
    run.verdict.dead_letters = h.dead_letters(client, workload.run)
    run.commands = workload.sent.commands
    print(run.report())
    for key, service in stack.services.items():
        assert service.proc.poll() is None, f"{key} died"
    h.assert_nothing_lost_or_doubled(run.verdict)
    assert run.verdict.accepted and run.verdict.rejected and run.verdict.backordered  # the mix happened


async def flow_with_fault(stack: Stack, client: PlatformClient, seed: int,
                          fault: Callable[[], Coroutine[Any, Any, tuple[str, float]]], name: str) -> None:
    """Publish the run's orders; at ``STRIKE_AT`` the fault starts (concurrently); then settle and check.
    ``fault`` returns a note for the report and when it ended (the cluster whole again)."""
    await kafka_of(stack).wait_in_sync()
    workload = h.Workload(client, n_orders=ORDERS, seed=seed)
    await workload.setup(timeout=120)
    task: asyncio.Task[tuple[str, float]] | None = None
    sent_at: list[float] = []

    async def strike(i: int) -> None:
        nonlocal task
        sent_at.append(time.monotonic())
        if i == STRIKE_AT:
            task = asyncio.create_task(fault())

    started = time.monotonic()
    await workload.publish(per_second=PER_SECOND, on_progress=strike)
    run = Run(name, published_s=time.monotonic() - started)
    run.longest_write_stall_s = max(b - a for a, b in itertools.pairwise(sent_at))
    assert task is not None
    run.notes, ended_at = await task
    await settle(stack, client, workload, run, ended_at)


async def test_cluster_sigkill_of_the_orders_commands_leader_loses_nothing(
        cluster_platform: Stack, cluster_client: PlatformClient) -> None:
    kafka = kafka_of(cluster_platform)

    async def fault() -> tuple[str, float]:
        leaders = await kafka.leaders("orders.commands")
        victim = kafka.node(max(set(leaders.values()), key=list(leaders.values()).count))
        led = sorted(p for p, n in leaders.items() if n == victim.node_id)
        victim.stop(signal.SIGKILL)
        killed_at = time.monotonic()

        async def moved() -> bool:
            now = await kafka.leaders("orders.commands")
            return all(now[p] not in (-1, victim.node_id) for p in led)

        await h.poll(moved, "orders.commands' partitions to get new leaders", 60, every_s=0.2)
        failover_s = time.monotonic() - killed_at
        await asyncio.sleep(max(0.0, 10 - failover_s))
        await restart(victim)
        return (f"node {victim.node_id} (leader of orders.commands {led}) SIGKILLed, its partitions led elsewhere "
                f"{failover_s:.1f}s later, back after {time.monotonic() - killed_at:.1f}s"), time.monotonic()

    await flow_with_fault(cluster_platform, cluster_client, 31, fault, "cluster: SIGKILL of orders.commands' leader")


async def test_cluster_sigkill_of_the_active_controller_loses_nothing(
        cluster_platform: Stack, cluster_client: PlatformClient) -> None:
    kafka = kafka_of(cluster_platform)

    async def fault() -> tuple[str, float]:
        controller = kafka.active_controller()
        controller.stop(signal.SIGKILL)
        killed_at = time.monotonic()
        successor = await kafka.wait_new_controller(controller)
        elected_s = time.monotonic() - killed_at
        await restart(controller)
        return (f"active controller node {controller.node_id} SIGKILLed, node {successor.node_id} elected "
                f"{elected_s:.1f}s later, the old one back after {time.monotonic() - killed_at:.1f}s"), time.monotonic()

    await flow_with_fault(cluster_platform, cluster_client, 32, fault, "cluster: SIGKILL of the active controller")


async def test_cluster_rolling_restart_loses_nothing(cluster_platform: Stack, cluster_client: PlatformClient) -> None:
    kafka = kafka_of(cluster_platform)

    async def fault() -> tuple[str, float]:
        steps = []
        for node in kafka.nodes:
            began = time.monotonic()
            await asyncio.to_thread(node.stop, signal.SIGTERM)  # a controlled shutdown: leadership moves first
            await restart(node)
            await kafka.wait_in_sync(timeout=120)
            steps.append(f"node {node.node_id} {time.monotonic() - began:.1f}s")
        return "each node stopped, started and back in sync in turn: " + ", ".join(steps), time.monotonic()

    await flow_with_fault(cluster_platform, cluster_client, 33, fault, "cluster: rolling restart")


async def test_cluster_broker_frozen_past_its_session_timeout_loses_nothing(
        cluster_platform: Stack, cluster_client: PlatformClient) -> None:
    kafka = kafka_of(cluster_platform)

    async def fault() -> tuple[str, float]:
        leaders = await kafka.leaders("orders.commands")
        victim = kafka.node(leaders[0])
        victim.freeze()
        frozen_at = time.monotonic()
        try:
            async def fenced() -> bool:  # the controller gave its partitions to the others
                now = await kafka.leaders("orders.commands")
                return all(n != victim.node_id for n in now.values())

            await h.poll(fenced, "the frozen broker's partitions to move", 60, every_s=0.5)
            moved_s = time.monotonic() - frozen_at
            await asyncio.sleep(max(0.0, 15 - moved_s))
        finally:
            victim.thaw()
        return (f"node {victim.node_id} frozen (SIGSTOP) for {time.monotonic() - frozen_at:.1f}s, its "
                f"orders.commands partitions led elsewhere after {moved_s:.1f}s, then resumed (SIGCONT)"), \
            time.monotonic()

    await flow_with_fault(cluster_platform, cluster_client, 34, fault, "cluster: broker frozen past its session")


async def unpublished(stack: Stack) -> dict[str, int]:
    found = {}
    for service in SERVICES:
        rows = await h.query(stack, service, "SELECT count(*) AS n FROM outbox WHERE published_at IS NULL")
        found[service] = int(rows[0]["n"])
    return found


async def test_cluster_two_brokers_down_stops_writes_and_loses_nothing(
        cluster_platform: Stack, cluster_client: PlatformClient) -> None:
    """Two of three nodes killed: no partition has two in-sync replicas, and the quorum has no majority.
    A write is refused (or never acknowledged); the services keep their outbox rows; after the restart of
    both, every order of the run (those in flight at the kill and those published after) is decided once."""
    stack, client = cluster_platform, cluster_client
    kafka = kafka_of(stack)
    await kafka.wait_in_sync()
    workload = h.Workload(client, n_orders=ORDERS, seed=35)
    await workload.setup(timeout=120)
    before = ORDERS // 2
    started = time.monotonic()
    await workload.publish(per_second=PER_SECOND * 4, count=before)
    await client.wait_for(lambda o: o.type in h.ALLOCATION_OUTCOMES and workload.run in str(o.payload),
                          count=before // 4, timeout=60)
    survivor = kafka.active_controller()
    victims = [n for n in kafka.nodes if n is not survivor]
    for node in victims:
        node.stop(signal.SIGKILL)
    down_at = time.monotonic()

    # ---- a write now is not acknowledged: too few in-sync replicas (or no leader at all)
    probe = AIOKafkaProducer(bootstrap_servers=survivor.bootstrap, acks="all", enable_idempotence=True,
                             request_timeout_ms=8000)
    refused: BaseException | None = None
    try:
        await asyncio.wait_for(probe.start(), 20)
        order = PlaceOrder(order_id=f"probe-{workload.run}", buyer_id="probe", buyer_email="probe@example.com",
                           region="US", lines=[OrderLine(line_id="l1", sku_id=workload.skus[0], qty=1)])
        await asyncio.wait_for(probe.send_and_wait("orders.commands", client.envelope(order).model_dump_json()
                                                   .encode(), key=order.order_id.encode()), 20)
    except (KafkaError, TimeoutError) as exc:
        refused = exc
    finally:
        await asyncio.wait_for(probe.stop(), 20)
    assert refused is not None, "a write was acknowledged with one replica in sync"

    async def held() -> dict[str, int]:
        waiting = await unpublished(stack)
        return waiting if sum(waiting.values()) else {}

    held_rows = await h.poll(held, "outbox rows held while the cluster cannot take writes", 60, every_s=0.5)
    await asyncio.sleep(max(0.0, 15 - (time.monotonic() - down_at)))
    held_rows = await unpublished(stack)
    for key, service in stack.services.items():
        assert service.proc.poll() is None, f"{key} died with the brokers"

    # ---- both back: everything delivered once
    for node in victims:
        await asyncio.to_thread(node.launch)
    for node in victims:
        await asyncio.to_thread(node.wait_started)
    up_at = time.monotonic()

    async def drained() -> bool:
        return not sum((await unpublished(stack)).values())

    await h.poll(drained, "every held outbox row to be published", 120, every_s=0.5)
    drained_s = time.monotonic() - up_at
    await workload.publish(per_second=PER_SECOND * 4, start=before, count=ORDERS - before)
    run = Run("cluster: two brokers down", published_s=time.monotonic() - started)
    run.notes = (f"nodes {[n.node_id for n in victims]} SIGKILLed with {before} orders published, down "
                 f"{up_at - down_at:.1f}s; a write meanwhile: {type(refused).__name__}; outbox rows held "
                 f"{held_rows}, all published {drained_s:.1f}s after the restart")
    await settle(stack, client, workload, run, up_at)
