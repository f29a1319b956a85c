"""R28 through Kafka, against the running inventory service: expected inbound stock and the
projected fill date of every waiting backorder part.

The tests play catalog and orders (see ``inventory_support``) and send the seller's inbound
commands; they wait for the ``BackorderProjected`` / ``CommandRejected`` / ``ReceiptMismatch``
their commands cause and read ``/orders/{id}/allocations`` and ``/skus/{sku}/inbounds``.
"""

from __future__ import annotations

import statistics
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from devstack.client import PlatformClient
from devstack.stack import Stack
from shared.contract.envelope import Principal
from shared.contract.inventory import (
    AnnounceInbound,
    CancelInbound,
    ChangeInbound,
    PrioritizeBackorder,
    ReceiveStock,
)
from tests.integration.inventory_support import T0, Inventory, uid

pytestmark = pytest.mark.integration

TODAY = datetime.now(UTC).date()
D1, D2, D3 = TODAY + timedelta(days=5), TODAY + timedelta(days=12), TODAY + timedelta(days=20)


@pytest.fixture(scope="module", autouse=True)
def services(stack: Stack) -> None:
    stack.start_service("inventory")
    stack.wait_ready()


@pytest.fixture
def inv(client: PlatformClient, stack: Stack) -> Inventory:
    return Inventory(client, stack)


async def backordered(inv: Inventory, sku: str, *qtys: int) -> list[str]:
    """Orders of ``qty`` units each, all on backorder, placed in this order."""
    orders = []
    for qty in qtys:
        allocated = await inv.place([(sku, qty)])
        assert allocated.type == "StockAllocated"
        orders.append(allocated.payload["order_id"])
    return orders


async def dates(inv: Inventory, orders: list[str]) -> list[tuple[str | None, str | None]]:
    out = []
    for order_id in orders:
        waiting = [p for p in await inv.allocations(order_id) if p["state"] == "waiting"]
        assert len(waiting) == 1
        out.append((waiting[0]["projected_on"], waiting[0]["projected_inbound"]))
    return out


def iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


async def announce(inv: Inventory, sku: str, inbound_id: str, qty: int, day: date,
                   warehouse_id: str = "wh-1", *, moves: bool = True) -> list[Any]:
    """Announce an inbound; wait for the projection it moves, or (``moves=False``) until it is listed."""
    command = AnnounceInbound(inbound_id=inbound_id, sku_id=sku, warehouse_id=warehouse_id, qty=qty, expected_on=day)
    if moves:
        return await inv.command(command, message_type="BackorderProjected")
    await inv.command(command, expect=0)
    # a marker on the same key (the SKU), so handled after it: a change of an inbound nobody announced is refused
    refused = await inv.command(ChangeInbound(inbound_id=f"no-such-{inbound_id}", sku_id=sku, qty=1),
                                message_type="CommandRejected")
    assert refused[0].payload["reason"] == "unknown_inbound"
    assert inbound_id in {i["inbound_id"] for i in await inv.get(f"/skus/{sku}/inbounds")}
    return []


async def test_r28_waiting_backorders_are_projected_against_inbounds_in_arrival_order(inv: Inventory) -> None:
    sku = await inv.sku(backorder={"wh-1": 20})
    orders = await backordered(inv, sku, 3, 4, 2)
    po_late, po_early = uid("po"), uid("po")

    projected = await announce(inv, sku, po_late, 5, D2)
    # 5 units cover the first order only; the others had no date and still have none, so are not sent
    assert [(p["order_id"], p["projected_on"]) for p in projected[0].payload["parts"]] == [(orders[0], iso(D2))]
    await announce(inv, sku, po_early, 4, D1)

    # the earlier inbound comes first: o1 takes 3 of it, o2 its last 1 and 3 of the later one, o3 the last 2
    assert await dates(inv, orders) == [(iso(D1), po_early), (iso(D2), po_late), (iso(D2), po_late)]


async def test_r28_a_new_backorder_and_a_priority_are_projected_at_once(inv: Inventory) -> None:
    sku = await inv.sku(backorder={"wh-1": 20})
    first = await backordered(inv, sku, 4)
    po_a, po_b = uid("po"), uid("po")
    await announce(inv, sku, po_a, 4, D1)
    await announce(inv, sku, po_b, 4, D2, moves=False)  # nothing waits behind the first order yet

    late = await backordered(inv, sku, 4)  # the new backorder is projected in its allocation's transaction
    assert await dates(inv, first + late) == [(iso(D1), po_a), (iso(D2), po_b)]

    await inv.command(PrioritizeBackorder(sku_id=sku, order_id=late[0], priority=10),
                      message_type="BackorderProjected")
    assert await dates(inv, first + late) == [(iso(D2), po_b), (iso(D1), po_a)]  # R19: it jumps the queue


async def test_r28_a_changed_or_cancelled_inbound_moves_the_dates(inv: Inventory) -> None:
    sku = await inv.sku(backorder={"wh-1": 20})
    orders = await backordered(inv, sku, 2, 2)
    po = uid("po")
    await announce(inv, sku, po, 4, D1)

    await inv.command(ChangeInbound(inbound_id=po, sku_id=sku, expected_on=D3), message_type="BackorderProjected")
    assert await dates(inv, orders) == [(iso(D3), po), (iso(D3), po)]

    await inv.command(ChangeInbound(inbound_id=po, sku_id=sku, qty=3), message_type="BackorderProjected")
    assert await dates(inv, orders) == [(iso(D3), po), (None, None)]  # smaller: the second is no longer covered

    await inv.command(CancelInbound(inbound_id=po, sku_id=sku), message_type="BackorderProjected")
    assert await dates(inv, orders) == [(None, None), (None, None)]
    assert [(i["inbound_id"], i["state"]) for i in await inv.get(f"/skus/{sku}/inbounds")] == [(po, "cancelled")]

    refused = await inv.command(ChangeInbound(inbound_id=po, sku_id=sku, qty=9), message_type="CommandRejected")
    assert refused[0].payload["reason"] == "inbound_closed"


async def test_r28_a_receipt_fulfils_the_inbound_it_names(inv: Inventory) -> None:
    sku = await inv.sku(backorder={"wh-1": 20})
    orders = await backordered(inv, sku, 3, 3)
    po_a, po_b = uid("po"), uid("po")
    await announce(inv, sku, po_a, 3, D1)
    await announce(inv, sku, po_b, 3, D2)

    await inv.command(ReceiveStock(receipt_id=uid("rcpt"), sku_id=sku, warehouse_id="wh-1", qty=3, inbound_id=po_a),
                      message_type="BackorderReleased")

    assert [p["state"] for p in await inv.allocations(orders[0])] == ["filled"]
    assert await dates(inv, orders[1:]) == [(iso(D2), po_b)]
    inbounds = {i["inbound_id"]: i for i in await inv.get(f"/skus/{sku}/inbounds")}
    assert (inbounds[po_a]["received"], inbounds[po_a]["state"]) == (3, "received")
    assert (inbounds[po_b]["received"], inbounds[po_b]["state"]) == (0, "open")


async def test_r28_a_partial_receipt_leaves_only_the_rest_of_the_inbound_to_project(inv: Inventory) -> None:
    sku = await inv.sku(backorder={"wh-1": 20})
    orders = await backordered(inv, sku, 2, 2, 2)
    po_a, po_b = uid("po"), uid("po")
    await announce(inv, sku, po_a, 4, D1)
    await announce(inv, sku, po_b, 4, D2)
    assert await dates(inv, orders[1:]) == [(iso(D1), po_a), (iso(D2), po_b)]

    await inv.command(ReceiveStock(receipt_id=uid("rcpt"), sku_id=sku, warehouse_id="wh-1", qty=2, inbound_id=po_a),
                      message_type="BackorderReleased")

    # 2 of po_a's 4 came and filled the first order: the 2 still expected cover the second, not the third too
    assert [p["state"] for p in await inv.allocations(orders[0])] == ["filled"]
    assert await dates(inv, orders[1:]) == [(iso(D1), po_a), (iso(D2), po_b)]
    inbounds = {i["inbound_id"]: i for i in await inv.get(f"/skus/{sku}/inbounds")}
    assert (inbounds[po_a]["qty"], inbounds[po_a]["received"], inbounds[po_a]["state"]) == (4, 2, "open")

    await inv.command(ReceiveStock(receipt_id=uid("rcpt"), sku_id=sku, warehouse_id="wh-1", qty=2, inbound_id=po_a),
                      message_type="BackorderReleased")
    assert await dates(inv, orders[2:]) == [(iso(D2), po_b)]
    late = ReceiveStock(receipt_id=uid("rcpt"), sku_id=sku, warehouse_id="wh-1", qty=1, inbound_id=po_a)
    mismatch = await inv.command(late, message_type="ReceiptMismatch")  # po_a came whole: nothing more expected
    assert (mismatch[0].payload["inbound_id"], mismatch[0].payload["reason"]) == (po_a, "inbound_received")


@pytest.mark.parametrize("case", ["unknown_inbound", "inbound_cancelled"])
async def test_r28_a_receipt_naming_an_unknown_or_cancelled_inbound_is_received_and_reported(
        inv: Inventory, case: str) -> None:
    sku = await inv.sku(regular={"wh-1": 1})
    po = uid("po")
    if case == "inbound_cancelled":
        await announce(inv, sku, po, 5, D1, moves=False)
        await inv.command(CancelInbound(inbound_id=po, sku_id=sku), expect=0)
    receipt = ReceiveStock(receipt_id=uid("rcpt"), sku_id=sku, warehouse_id="wh-1", qty=4, inbound_id=po)

    mismatch = await inv.command(receipt, message_type="ReceiptMismatch")

    assert (mismatch[0].payload["inbound_id"], mismatch[0].payload["reason"]) == (po, case)
    await inv.client.wait_for(lambda o: o.type == "StockChanged" and o.payload["sku_id"] == sku
                              and o.payload["on_hand"] == 5)
    assert (await inv.stock(sku))["in_stock"] == 5  # received as stock all the same


@pytest.mark.parametrize(("change", "reason"), [
    ({"expected_on": TODAY - timedelta(days=1)}, "date_in_past"),
    ({"qty": 0}, "invalid_qty"),
    ({"qty": -4}, "invalid_qty"),
    ({"sku_id": "unknown"}, "unknown_sku"),
    ({"warehouse_id": "wh-nowhere"}, "unknown_warehouse"),
    ({"principal": "other-seller"}, "not_owner"),
])
async def test_r28_a_bad_inbound_is_refused_with_its_reason_and_changes_nothing(
        inv: Inventory, change: dict[str, Any], reason: str) -> None:
    sku = await inv.sku(backorder={"wh-1": 5})
    orders = await backordered(inv, sku, 2)
    fields: dict[str, Any] = {"inbound_id": uid("po"), "sku_id": sku, "warehouse_id": "wh-1", "qty": 5,
                              "expected_on": D1}
    principal = Principal(kind="seller", id=change.pop("principal", inv.seller_id))
    if fields["sku_id"] != change.get("sku_id", sku):
        change["sku_id"] = uid("sku-unknown")
    fields.update(change)

    refused = await inv.command(AnnounceInbound(**fields), principal=principal, message_type="CommandRejected")

    assert refused[0].payload["reason"] == reason
    assert await inv.get(f"/skus/{sku}/inbounds") == []
    assert await dates(inv, orders) == [(None, None)]


async def test_r28_cost_of_reprojecting_3000_waiting_parts(inv: Inventory, stack: Stack) -> None:
    """Each inbound change moves the day of all 3,000 waiting parts of one SKU: the time from the
    command sent to its ``BackorderProjected`` read back (lock, read the queue, project, update
    3,000 rows, one event) is printed; the bound only catches a regression by an order of magnitude."""
    waiting = 3000
    sku = await inv.sku(backorder={"wh-1": waiting})
    conn = await asyncpg.connect(stack.dsn("inventory"))
    try:  # the queue, as 3,000 allocations would leave it: parts, their levels and their ledger rows
        async with conn.transaction():
            await conn.executemany(
                "INSERT INTO allocation_parts (order_id, line_id, part_no, sku_id, warehouse_id, source, qty, state,"
                " placed_at) VALUES ($1, 'l1', 1, $2, 'wh-1', 'backorder', 1, 'waiting', $3)",
                [(f"{sku}-o{n}", sku, T0 + timedelta(seconds=n)) for n in range(waiting)])
            await conn.execute("UPDATE stock_levels SET backorder_allocated = $2 WHERE sku_id = $1", sku, waiting)
            await conn.execute(
                "INSERT INTO stock_ledger (sku_id, warehouse_id, kind, backorder_allocated, cause_id, cause_type)"
                " VALUES ($1, 'wh-1', 'backorder_allocation', $2, 'test', 'test')", sku, waiting)
    finally:
        await conn.close()
    po = uid("po")
    await announce(inv, sku, po, waiting, D1)

    took = []
    for day in (D2, D3) * 5:
        started = time.perf_counter()
        moved = await inv.command(ChangeInbound(inbound_id=po, sku_id=sku, expected_on=day),
                                  message_type="BackorderProjected")
        took.append(time.perf_counter() - started)
        assert len(moved[0].payload["parts"]) == waiting
    print(f"R28 reprojection of {waiting} waiting parts per inbound change: median "
          f"{statistics.median(took) * 1000:.0f} ms, max {max(took) * 1000:.0f} ms (command to event)")
    assert statistics.median(took) < 5.0
