"""R15, the SLA clock: parts due at different times become late exactly once each, through a
restart of the service and with two instances running. Time is a clock file the test moves.

Orders are placed Monday 2026-11-23 09:00 New York (before the 14:00 cut-off) for a seller in
New York. Hand-checked ship-by dates (Thanksgiving Thu Nov 26 skipped) and deadlines (local
midnight ending the ship-by day, EST = UTC-5):

    3 business days -> ship by Fri Nov 27 -> late from 2026-11-28T05:00Z
    5 business days -> ship by Tue Dec 1  -> late from 2026-12-02T05:00Z
    8 business days -> ship by Fri Dec 4  -> late from 2026-12-05T05:00Z
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import asyncpg
import pytest

from devstack.client import Observed, PlatformClient
from devstack.stack import Stack
from shared.contract import orders as o
from tests.integration.test_orders_support import (
    EVENTS,
    ClockFile,
    activate,
    allocate,
    buyer,
    event,
    get_json,
    listing,
    orders_url,
    part,
    place,
    release,
    seller,
    seller_principal,
    sku_known,
)

pytestmark = pytest.mark.integration

T0 = "2026-11-23T14:00:00+00:00"
BURST = [f"o-burst-{i}" for i in range(10)]  # one 8-day line each
MULTI = "o-burst-multi"  # two 8-day lines
SINGLE = {"o-3d": "sku-3d", "o-5d": "sku-5d", "o-shipped": "sku-3d", "o-cancelled": "sku-3d",
          **{order_id: "sku-8d" for order_id in BURST}}
EXPECTED_LATE = {("o-3d", "l1"), ("o-5d", "l1"), *((b, "l1") for b in BURST), (MULTI, "l1"), (MULTI, "l2")}


@pytest.fixture(scope="module")
def clock(tmp_path_factory: pytest.TempPathFactory) -> ClockFile:
    clock = ClockFile(tmp_path_factory.mktemp("orders-sla-clock") / "now")
    clock.set(T0)
    return clock


@pytest.fixture(scope="module")
def env(clock: ClockFile) -> dict[str, str]:
    # small batches: a burst spans several claims, so both instances contend for the same due lines
    return {**clock.env, "SLA_POLL_S": "0.1", "SLA_BATCH": "2"}


@pytest.fixture(scope="module", autouse=True)
def services(stack: Stack, env: dict[str, str]) -> Iterator[None]:
    stack.start_service("orders", extra_env=env)
    stack.wait_ready()
    yield


@pytest.fixture(scope="module", autouse=True)
async def orders(services: None, stack: Stack, client: PlatformClient) -> None:
    """Accepted backorder lines due at three instants; one shipped in time, one cancelled."""
    await seller(client, "s1")
    await listing(client, "s1", "L1", ["sku-3d", "sku-5d", "sku-8d"])
    for sku, days in (("sku-3d", 3), ("sku-5d", 5), ("sku-8d", 8)):
        await activate(client, "s1", "L1", sku, days)
    await sku_known(stack, "sku-8d", handling_days=8, region="US")

    for order_id, sku in SINGLE.items():
        await client.send(place(order_id, [("l1", sku, 1)]), principal=buyer())
    await client.send(place(MULTI, [("l1", "sku-8d", 1), ("l2", "sku-8d", 2)]), principal=buyer())
    await client.wait_type(EVENTS, "OrderPlaced", count=len(SINGLE) + 1)
    for order_id, sku in SINGLE.items():
        await allocate(client, order_id, {"l1": (sku, [part("backorder", 1)])})
    await allocate(client, MULTI, {"l1": ("sku-8d", [part("backorder", 1)]), "l2": ("sku-8d", [part("backorder", 2)])})
    await client.wait_type(EVENTS, "OrderAccepted", count=len(SINGLE) + 1)

    await release(client, "o-shipped", "l1", "sku-3d", 1)
    await event(client, "o-shipped", "LinesReleased")
    await client.send(o.ShipLines(order_id="o-shipped", line_ids=["l1"], tracking_number="T"),
                      principal=seller_principal("s1"))
    await event(client, "o-shipped", "LinesShipped")
    await client.send(o.CancelLines(order_id="o-cancelled", line_ids=["l1"]), principal=buyer())
    await event(client, "o-cancelled", "LinesCancelled")


def late_events(client: PlatformClient) -> list[Observed]:
    return client.matching(lambda m: m.topic == EVENTS and m.type == "OrderShipmentLate")


def late_lines(client: PlatformClient) -> Counter[tuple[str, str]]:
    """How many distinct late events each line got (a redelivered copy has the same event id)."""
    unique = {m.value["event_id"]: m for m in late_events(client)}
    return Counter((m.payload["order_id"], m.payload["line_id"]) for m in unique.values())


async def test_r15_a_line_not_shipped_by_its_ship_by_day_becomes_late_once(
        client: PlatformClient, stack: Stack, clock: ClockFile) -> None:
    clock.set("2026-11-28T05:00:00+00:00")  # the instant Fri Nov 27 ends in New York
    late = await event(client, "o-3d", "OrderShipmentLate")
    assert late.payload == {
        "order_id": "o-3d", "buyer_id": "buyer-1", "line_id": "l1", "sku_id": "sku-3d", "seller_id": "s1",
        "ship_by": "2026-11-27", "estimated_delivery": "2026-12-04", "cancellable": True,
    }
    placed = next(m for m in client.matching(lambda m: m.type == "OrderPlaced" and m.payload["order_id"] == "o-3d"))
    assert late.value["correlation_id"] == placed.value["correlation_id"]  # the order's own flow
    assert late.value["causation_id"] is None  # caused by time, not by a message

    base = orders_url(stack)
    assert (await get_json(f"{base}/orders/o-3d"))["lines"][0]["late"] is True
    assert (await get_json(f"{base}/orders/o-5d"))["lines"][0]["late"] is False  # due on Dec 2
    assert (await get_json(f"{base}/sellers/s1/stats"))["late_shipments"] == 1
    late_list = await get_json(f"{base}/sellers/s1/orders?tag=back_order&late=true")
    assert [row["order_id"] for row in late_list] == ["o-3d"]

    # the buyer may still cancel the late line (R15 -> R17)
    await client.send(o.CancelLines(order_id="o-3d", line_ids=["l1"], reason="late"), principal=buyer())
    assert (await event(client, "o-3d", "LinesCancelled")).payload["status"] == "cancelled"


async def test_r15_deadlines_survive_a_restart(client: PlatformClient, stack: Stack, clock: ClockFile,
                                               env: dict[str, str]) -> None:
    stack.stop_service("orders")
    clock.set("2026-12-02T06:00:00+00:00")  # o-5d falls due while no instance runs
    # it comes back as two instances at once (one consumer-group rebalance instead of two)
    stack.start_service("orders", extra_env=env)
    stack.start_service("orders", 1, extra_env=env)
    stack.wait_ready()
    late = await event(client, "o-5d", "OrderShipmentLate")
    assert (late.payload["ship_by"], late.payload["estimated_delivery"]) == ("2026-12-01", "2026-12-08")
    assert late_lines(client) == Counter({("o-3d", "l1"): 1, ("o-5d", "l1"): 1})


async def test_r15_two_instances_fire_each_due_line_exactly_once(client: PlatformClient, stack: Stack,
                                                                 clock: ClockFile) -> None:
    assert {key for key, service in stack.services.items() if service.proc.poll() is None} == {
        ("orders", 0), ("orders", 1)}
    clock.set("2026-12-05T06:00:00+00:00")  # twelve lines fall due at once, both instances scan
    await client.wait_for(lambda m: m.topic == EVENTS and m.type == "OrderShipmentLate", count=len(EXPECTED_LATE))

    assert late_lines(client) == Counter(dict.fromkeys(EXPECTED_LATE, 1))
    assert len(late_events(client)) == len(EXPECTED_LATE)  # and no copy on the wire either
    conn = await asyncpg.connect(stack.dsn("orders"))
    try:
        staged = await conn.fetchval("SELECT count(*) FROM outbox WHERE message_type = 'OrderShipmentLate'")
        recorded = await conn.fetch("SELECT order_id, line_id FROM late_shipments")
    finally:
        await conn.close()
    assert staged == len(EXPECTED_LATE)  # each late line was written to the outbox exactly once
    assert {(r["order_id"], r["line_id"]) for r in recorded} == EXPECTED_LATE
    stats = await get_json(f"{orders_url(stack)}/sellers/s1/stats")
    assert stats["late_shipments"] == len(EXPECTED_LATE)  # recorded against the seller
    assert ("o-shipped", "l1") not in late_lines(client) and ("o-cancelled", "l1") not in late_lines(client)
    fired_by = {i: (stack.root / "logs" / f"orders-{i}.log").read_text().count('"shipment_late"') for i in (0, 1)}
    print(f"late lines fired per instance log: {fired_by}")
