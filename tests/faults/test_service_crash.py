"""Service crashes: SIGKILL each service in turn while 1,000 orders flow, restart it, lose and double nothing.

The workload (``harness.Workload``) places 1,000 orders of one or two lines over eight SKUs
that hold regular and backorder stock, so that some orders are filled from regular stock,
some are backordered, some are rejected as out of stock; restocks release waiting
backorders, buyers cancel lines (some before their order is allocated) and new sellers
register and activate backorder on the catalog meanwhile. While it is published, every
service is killed with SIGKILL once, at a random moment of its quarter of the run, and
started again at once.

What must hold afterwards (R08, R11, R12, R22 and the delivery guarantee):

* every order has exactly one decision: one allocation outcome from inventory, one decision
  recorded by orders and one decision event (counted by distinct event id: a republished
  event keeps its id, that is at-least-once delivery, not a second decision);
* every stock ledger rebuilds to its stored levels, the allocation parts add up to them, and
  nothing is oversold;
* every catalog command is answered exactly once;
* every email the notifications service decided on arrived, counted by ``Message-ID``, and
  nothing was dead-lettered.

The one documented window (``services/notifications/README.md``): SMTP cannot join the
database transaction, so a SIGKILL after the server's ``250`` and before ``sent`` is committed
sends that email again when its claim's lease ends, with the same ``Message-ID``. The test does
not dodge it (notifications is killed at a random moment like the others): it asserts that every
notification arrived once by ``Message-ID`` and that the raw count exceeds the unique count by at
most ``SMTP_CONNECTIONS`` per kill of the notifications service (each connection records an email before its
next ``DATA``), and it reports both counts.
"""

from __future__ import annotations

import random
import signal
import time
from collections import Counter

import pytest

from devstack.client import PlatformClient
from devstack.stack import SERVICES, Stack
from services.notifications.settings import NotificationsSettings
from tests.faults import harness as h

pytestmark = [pytest.mark.integration, pytest.mark.faults]

ORDERS = 1000
PER_SECOND = 80.0
SEED = 20261123
#: every service once; notifications first, so that the lease of the emails it held (``EMAIL_LEASE_S``,
#: see ``conftest.py``) ends within the run, and the catalog, least in the way of the orders, last
KILL_ORDER = ("notifications", "orders", "inventory", "catalog")


async def test_r08_r22_crash_of_any_service_loses_and_doubles_nothing(platform: Stack,
                                                                    platform_client: PlatformClient) -> None:
    stack, client = platform, platform_client
    assert sorted(KILL_ORDER) == sorted(SERVICES)
    workload = h.Workload(client, n_orders=ORDERS, seed=SEED)
    await workload.setup()
    rng = random.Random(SEED)
    quarter = ORDERS // len(KILL_ORDER)
    # each service in turn, at a random order of its quarter of the run (not in the first or last 5%)
    schedule = {rng.randrange(max(50, q * quarter), min(ORDERS - 50, (q + 1) * quarter)): name
                for q, name in enumerate(KILL_ORDER)}
    kills: list[tuple[str, int, int | None]] = []

    async def crash(i: int) -> None:
        name = schedule.get(i)
        if name is None:
            return
        code = stack.stop_service(name, 0, sig=signal.SIGKILL)
        kills.append((name, i, code))
        stack.start_service(name, 0)

    started = time.monotonic()
    await workload.publish(per_second=PER_SECOND, on_progress=crash)
    published_s = time.monotonic() - started
    assert [(name, code) for name, _, code in kills] == [(name, -signal.SIGKILL) for name in KILL_ORDER]

    await h.wait_for_decisions(stack, client, workload.sent.orders, within_s=150)
    stack.wait_ready(timeout=60)
    verdict = h.Verdict()
    await h.decision_figures(stack, client, workload.sent.orders, verdict)
    await h.inventory_figures(stack, verdict)
    await h.email_figures(stack, workload.sent.orders, verdict, within_s=90)
    verdict.dead_letters = h.dead_letters(client, workload.run)
    settled_s = time.monotonic() - started

    # every catalog command of the run answered exactly once (by distinct event id, whatever was republished)
    answers = Counter(o.value.get("causation_id") for o in client.observed
                      if o.topic == "catalog.events" and o.type in ("SellerRegistered", "ListingUpserted",
                                                                      "BackorderActivated", "CommandRejected"))
    unanswered = [e.type for e in workload.sent.catalog if answers[str(e.event_id)] == 0]
    ours = {str(e.event_id) for e in workload.sent.catalog}
    # only the services' own rejections: the shared platform also carries hostile messages that merely claim a type
    rejected = [o.payload for o in client.observed if o.topic.endswith(".events") and o.type == "CommandRejected"
                and o.payload.get("command_id") in ours]
    distinct = {(o.value.get("causation_id"), o.type): set() for o in client.observed if o.topic == "catalog.events"}
    for o in client.observed:
        if o.topic == "catalog.events":
            distinct[(o.value.get("causation_id"), o.type)].add(o.value["event_id"])
    twice = [key for key, ids in distinct.items() if len(ids) > 1]

    notifications_kills = sum(1 for name, _, _ in kills if name == "notifications")
    print(f"\ncrash: {len(kills)} SIGKILLs {[(n, i) for n, i, _ in kills]}, {workload.sent.commands} commands "
          f"published in {published_s:.1f}s, settled after {settled_s:.1f}s; {verdict.summary()}; "
          f"catalog commands {len(workload.sent.catalog)}, unanswered {len(unanswered)}, answered twice {len(twice)}")
    assert not unanswered and not rejected and not twice
    h.assert_nothing_lost_or_doubled(
        verdict, duplicate_emails_allowed=notifications_kills * NotificationsSettings().smtp_connections)
    assert verdict.accepted and verdict.rejected and verdict.backordered and verdict.cancelled  # the mix happened
