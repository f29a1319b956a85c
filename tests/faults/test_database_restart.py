"""Database restart: PostgreSQL stops mid-flow; the services say they are not ready, retry with backoff, and
lose nothing once it is back.

This module runs its own embedded PostgreSQL (the session's server is shared by every other
module), stopped with a fast shutdown (clients disconnected) and started again on the same
port and data directory while orders keep arriving on Kafka. What must hold:

* while it is down every service answers ``/healthz`` (alive: Kubernetes must not restart it)
  and ``/readyz`` with 503 (not ready), and no process exits;
* a consumer whose batch fails on the database rolls it back, backs off (growing delays, capped)
  and has it redelivered: nothing is dead-lettered for the database's fault;
* once it is back every service is ready again by itself, and every order is decided exactly
  once, the ledgers rebuild to their levels, and every email went out.

The one window of the notifications service applies here too: an email whose ``sent`` update
cannot be recorded during the outage (the sender retries it for about 3 s) goes out again when
its claim's lease ends, with the same ``Message-ID``; at most the one message in flight when the
database went away. The test reports raw and unique counts and allows that one.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from devstack.client import PlatformClient
from devstack.stack import SERVICES, Stack
from services.notifications.settings import NotificationsSettings
from shared.contract.topics import all_topic_names
from tests.faults import harness as h

pytestmark = [pytest.mark.integration, pytest.mark.faults]

FAST = {"EMAIL_POLL_S": "0.2", "EMAIL_LEASE_S": "8", "SMTP_TIMEOUT_S": "1"}
ORDERS = 400
STOP_AT = 150


@pytest.fixture(scope="module")
def own_stack(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Stack]:
    """A stack with its own PostgreSQL server and broker, so that stopping it disturbs no other module (the
    fault suite's shared platform runs on the session's broker meanwhile)."""
    with h.platform_of_its_own(Stack(tmp_path_factory.mktemp("dbrestart"), db_prefix="dbrestart"), request,
                               FAST) as platform:
        yield platform


def retry_delays(stack: Stack, service: str, event: str) -> list[float]:
    """The ``retry_in_s`` of each ``event`` line a service logged."""
    return [float(e["retry_in_s"]) for e in h.log_events(stack, service, event) if "retry_in_s" in e]


async def test_database_restart_services_report_not_ready_retry_with_backoff_and_lose_nothing(
        own_stack: Stack) -> None:
    stack = own_stack
    postgres = stack.postgres
    assert postgres is not None, "needs the embedded PostgreSQL (unset DATABASE_URL)"
    client = await PlatformClient(stack.kafka_bootstrap, all_topic_names()).start()
    try:
        workload = h.Workload(client, n_orders=ORDERS, seed=7, new_seller_every=100)
        await workload.setup()
        down_at = 0.0

        async def stop_database(i: int) -> None:
            nonlocal down_at
            if i == STOP_AT:
                postgres.stop()
                down_at = time.monotonic()

        # orders keep arriving on Kafka while the database is down
        await workload.publish(per_second=150.0, on_progress=stop_database)

        async def all_not_ready() -> bool:
            return all([await h.readyz(stack, s) == 503 for s in SERVICES])

        await h.poll(all_not_ready, "every service to report not ready", 20.0)
        for service in SERVICES:
            assert stack.services[(service, 0)].proc.poll() is None, f"{service} exited"
            status, _ = await h.http_json(stack.services[(service, 0)].url + "/healthz")
            assert status == 200, f"{service} is not alive"

        async def backing_off() -> bool:  # the consumers with work waiting have retried, with growing delays
            return all(len(retry_delays(stack, s, "batch_retry_database_unavailable")) >= 3
                       for s in ("orders", "inventory"))

        await h.poll(backing_off, "the consumers to retry their batches", 30.0)
        down_s = time.monotonic() - down_at
        postgres.start()
        up_at = time.monotonic()

        async def all_ready() -> bool:
            return all([await h.readyz(stack, s) == 200 for s in SERVICES])

        await h.poll(all_ready, "every service to be ready again", 30.0)
        ready_s = time.monotonic() - up_at
        await h.wait_for_decisions(stack, client, workload.sent.orders, within_s=90)
        decided_s = time.monotonic() - up_at

        verdict = h.Verdict()
        await h.decision_figures(stack, client, workload.sent.orders, verdict)
        await h.inventory_figures(stack, verdict)
        await h.email_figures(stack, workload.sent.orders, verdict, within_s=60)
        verdict.dead_letters = h.dead_letters(client)
        delays = {s: retry_delays(stack, s, "batch_retry_database_unavailable") for s in SERVICES}
        print(f"\ndatabase restart: stopped at order {STOP_AT} of {ORDERS} ({workload.sent.commands} commands), "
              f"down {down_s:.1f}s, all ready {ready_s:.1f}s and all decided {decided_s:.1f}s after the restart; "
              f"batch retries {({s: len(d) for s, d in delays.items()})}; {verdict.summary()}")
        for service in ("orders", "inventory"):
            d = delays[service]
            assert d[:3] == sorted(d[:3]) and d[1] > d[0], f"{service} did not back off: {d}"
            assert max(d) <= 5.0
        # an outage outlasting the record's retries is R22's window: at most one email per SMTP connection
        h.assert_nothing_lost_or_doubled(verdict,
                                         duplicate_emails_allowed=NotificationsSettings().smtp_connections)
    finally:
        await client.stop()

