"""The outbox relay's lead: one instance per service database publishes, the others wait to take over.

Two instances of the orders service share the work while orders flow, in three thirds:

1. both run; then instance 0 is killed with SIGKILL;
2. instance 1 runs alone, and the second third's orders must all be decided before instance 0 comes
   back: whichever instance led before, instance 1 publishes now;
3. instance 0 is started again and waits (instance 1 holds the lead), then instance 1 is killed: the
   last third's orders must all be decided, so instance 0 took the lead that instance 1's death set free.

What must hold afterwards: every order decided exactly once, nothing oversold, every email sent
(the delivery guarantee).
"""

from __future__ import annotations

import signal
import time

import pytest

from devstack.client import PlatformClient
from devstack.stack import Stack
from tests.faults import harness as h

pytestmark = [pytest.mark.integration, pytest.mark.faults]

ORDERS = 300
SEED = 20261124
THIRD = ORDERS // 3


async def test_relay_lead_passes_to_the_waiting_instance_when_the_leader_dies(
        platform: Stack, platform_client: PlatformClient) -> None:
    stack, client = platform, platform_client
    workload = h.Workload(client, n_orders=ORDERS, seed=SEED)
    await workload.setup()
    stack.start_service("orders", 1)
    stack.wait_ready(timeout=60)
    try:
        started = time.monotonic()
        await workload.publish(per_second=60.0, count=THIRD)
        assert stack.stop_service("orders", 0, sig=signal.SIGKILL) == -signal.SIGKILL

        await workload.publish(per_second=60.0, start=THIRD, count=THIRD)
        await h.wait_for_decisions(stack, client, workload.sent.orders, within_s=60)  # instance 0 still dead
        assert stack.services[("orders", 0)].proc.poll() is not None

        stack.start_service("orders", 0)
        stack.wait_ready(timeout=60)
        assert stack.stop_service("orders", 1, sig=signal.SIGKILL) == -signal.SIGKILL
        await workload.publish(per_second=60.0, start=2 * THIRD)
        await h.wait_for_decisions(stack, client, workload.sent.orders, within_s=60)

        verdict = h.Verdict()
        await h.decision_figures(stack, client, workload.sent.orders, verdict)
        await h.inventory_figures(stack, verdict)
        await h.email_figures(stack, workload.sent.orders, verdict, within_s=90)
        print(f"\nrelay takeover: 2 SIGKILLs of orders, settled after {time.monotonic() - started:.1f}s; "
              f"{verdict.summary()}")
        h.assert_nothing_lost_or_doubled(verdict)
        assert verdict.accepted and verdict.backordered  # the mix happened
    finally:
        stack.remove_service("orders", 1)  # the platform goes on with one instance, as the other tests expect
        if stack.services[("orders", 0)].proc.poll() is not None:
            stack.start_service("orders", 0)
        stack.wait_ready(timeout=60)
