"""R31 through Kafka, against two running inventory instances: fair release across warehouses.

The tests play catalog and orders (``inventory_support``) and send the seller's ``SetTransferPolicy``
and receipts; they wait for the events their messages cause and read ``/orders/{id}/allocations``,
``/skus/{sku}/stock``, ``/skus/{sku}/ledger`` and ``/audit/ledger``.

Backorder orders of a SKU on backorder in wh-a and wh-b (5 units each, no regular stock) are placed in
wh-a, then wh-b (allocation picks the warehouse with the most free units, ties by id): the oldest waits
in wh-a.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from devstack.client import PlatformClient
from devstack.stack import Stack
from shared.contract import orders as o
from shared.contract.envelope import Principal
from shared.contract.inventory import PrioritizeBackorder, ReceiveStock, SetTransferPolicy
from tests.integration.inventory_support import EVENTS, OUTCOMES, Inventory, parts_of, uid

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module", autouse=True)
def services(stack: Stack) -> None:
    stack.start_service("inventory", 0)
    stack.start_service("inventory", 1)
    stack.wait_ready()


@pytest.fixture
def inv(client: PlatformClient, stack: Stack) -> Inventory:
    return Inventory(client, stack)


async def oldest_in_a_younger_in_b(inv: Inventory, sku: str) -> tuple[str, str]:
    old, young = await inv.place([(sku, 2)]), await inv.place([(sku, 2)])
    assert parts_of(old) == [("wh-a", "backorder", 2)] and parts_of(young) == [("wh-b", "backorder", 2)]
    return old.payload["order_id"], young.payload["order_id"]


async def allow_transfers(inv: Inventory, sku: str, warehouses: list[str] | None = None) -> None:
    await inv.command(SetTransferPolicy(sku_id=sku, allow_transfers=True, warehouses=warehouses),
                      principal=Principal(kind="seller", id=inv.seller_id), message_type="TransferPolicySet")


def receipt(sku: str, warehouse_id: str, qty: int) -> ReceiveStock:
    return ReceiveStock(receipt_id=uid("rcpt"), sku_id=sku, warehouse_id=warehouse_id, qty=qty)


def part_rows(rows: list[dict[str, Any]]) -> list[tuple[str, str, str, int]]:
    return [(p["state"], p["warehouse_id"], p["ship_from"], p["qty"]) for p in rows]


async def test_r31_receipt_fills_oldest_part_in_any_warehouse(inv: Inventory) -> None:
    sku = await inv.sku(backorder={"wh-a": 5, "wh-b": 5})
    await allow_transfers(inv, sku)
    old, young = await oldest_in_a_younger_in_b(inv, sku)

    released = await inv.command(receipt(sku, "wh-b", 2), message_type="BackorderReleased")

    # the receipt is in wh-b, the oldest order waits in wh-a: it is served first and ships from wh-b
    assert [(e.payload["order_id"], e.payload["warehouse_id"], e.payload["ship_from"], e.payload["qty"])
            for e in released] == [(old, "wh-a", "wh-b", 2)]
    assert part_rows(await inv.allocations(old)) == [("filled", "wh-a", "wh-b", 2)]
    assert part_rows(await inv.allocations(young)) == [("waiting", "wh-b", "wh-b", 2)]
    stock = await inv.stock(sku)
    assert stock["transfers_allowed"] is True
    a, b = stock["by_warehouse"]["wh-a"], stock["by_warehouse"]["wh-b"]
    assert (a["on_hand"], a["allocated"], a["backorder_limit"], a["backorder_allocated"]) == (0, 0, 3, 0)
    assert (b["on_hand"], b["allocated"], b["backorder_limit"], b["backorder_allocated"]) == (2, 2, 5, 2)
    moves = [(r["warehouse_id"], r["allocated"], r["backorder_limit"], r["backorder_allocated"], r["order_id"])
             for r in await inv.ledger(sku) if r["kind"] == "transfer_fill"]
    assert sorted(moves) == [("wh-a", 0, -2, -2, old), ("wh-b", 2, 0, 0, old)]  # R12: a row in each warehouse
    audit = await inv.audit()
    assert audit["ledger_matches_levels"] and audit["parts_match_levels"], audit

    # the transferred part leaves wh-b when it ships
    await inv.ship(old, ["l1"])
    assert (await inv.stock(sku))["by_warehouse"]["wh-b"]["on_hand"] == 0


async def test_r19_r31_a_priority_outranks_age_across_the_pool(inv: Inventory) -> None:
    """One unit each and a receipt of one unit: only the head of the pooled queue is read, so it must be
    ordered by priority where it is read (the SQL), not after."""
    sku = await inv.sku(backorder={"wh-a": 5, "wh-b": 5})
    await allow_transfers(inv, sku)
    old, young = await inv.place([(sku, 1)]), await inv.place([(sku, 1)])
    assert parts_of(old) == [("wh-a", "backorder", 1)] and parts_of(young) == [("wh-b", "backorder", 1)]
    old_id, young_id = old.payload["order_id"], young.payload["order_id"]
    # same key as the receipt below (the SKU): inventory handles it first; nothing is inbound, so it sends nothing
    await inv.command(PrioritizeBackorder(sku_id=sku, order_id=young_id, priority=10),
                      principal=Principal(kind="seller", id=inv.seller_id), expect=0)

    released = await inv.command(receipt(sku, "wh-a", 1), message_type="BackorderReleased")

    # the receipt is in wh-a, where the oldest order waits; the prioritised one in wh-b is served first, from wh-a
    assert [(e.payload["order_id"], e.payload["warehouse_id"], e.payload["ship_from"], e.payload["qty"])
            for e in released] == [(young_id, "wh-b", "wh-a", 1)]
    assert part_rows(await inv.allocations(young_id)) == [("filled", "wh-b", "wh-a", 1)]
    assert part_rows(await inv.allocations(old_id)) == [("waiting", "wh-a", "wh-a", 1)]


async def test_r31_no_transfer_without_policy(inv: Inventory) -> None:
    sku = await inv.sku(backorder={"wh-a": 5, "wh-b": 5})
    old, young = await oldest_in_a_younger_in_b(inv, sku)

    released = await inv.command(receipt(sku, "wh-b", 2), message_type="BackorderReleased")

    # R11 per warehouse: wh-b's own order, though younger; the oldest keeps waiting in wh-a
    assert [(e.payload["order_id"], e.payload["warehouse_id"], e.payload["ship_from"]) for e in released] == [
        (young, "wh-b", "wh-b")]
    assert part_rows(await inv.allocations(old)) == [("waiting", "wh-a", "wh-a", 2)]
    assert (await inv.stock(sku))["transfers_allowed"] is False
    assert not [r for r in await inv.ledger(sku) if r["kind"] == "transfer_fill"]


async def test_r31_a_pool_leaves_other_warehouses_alone(inv: Inventory) -> None:
    sku = await inv.sku(backorder={"wh-a": 5, "wh-b": 5, "wh-c": 5})
    await allow_transfers(inv, sku, ["wh-b", "wh-c"])
    first = await inv.place([(sku, 2)])
    assert parts_of(first) == [("wh-a", "backorder", 2)]  # the oldest waits in wh-a, outside the pool
    later = await inv.place([(sku, 2)])
    assert parts_of(later) == [("wh-b", "backorder", 2)]  # the most free units, ties by id

    released = await inv.command(receipt(sku, "wh-c", 2), message_type="BackorderReleased")

    assert [(e.payload["order_id"], e.payload["ship_from"]) for e in released] == [
        (later.payload["order_id"], "wh-c")]
    assert (await inv.stock(sku))["transfer_warehouses"] == ["wh-b", "wh-c"]


@pytest.mark.parametrize(("allow", "warehouses", "reason"), [
    (False, ["wh-a", "wh-b"], "warehouses_without_transfers"),
    (True, ["wh-a", "wh-a"], "duplicate_warehouse"),
    (True, ["wh-a"], "too_few_warehouses"),
    (True, ["wh-a", "wh-nowhere"], "unknown_warehouse"),
    (True, None, "not_owner"),
])
async def test_r31_policy_with_bad_values_rejected(inv: Inventory, allow: bool, warehouses: list[str] | None,
                                                   reason: str) -> None:
    sku = await inv.sku(backorder={"wh-a": 5, "wh-b": 5})
    old, _ = await oldest_in_a_younger_in_b(inv, sku)
    seller = "another-seller" if reason == "not_owner" else inv.seller_id

    refused = await inv.command(SetTransferPolicy(sku_id=sku, allow_transfers=allow, warehouses=warehouses),
                                principal=Principal(kind="seller", id=seller), message_type="CommandRejected")

    assert (refused[0].payload["reason"], refused[0].payload["command_type"]) == (reason, "SetTransferPolicy")
    stock = await inv.stock(sku)
    assert (stock["transfers_allowed"], stock["transfer_warehouses"]) == (False, None)
    # nothing half-applied: a receipt in wh-b still serves wh-b's own order, not the older one in wh-a
    released = await inv.command(receipt(sku, "wh-b", 2), message_type="BackorderReleased")
    assert released[0].payload["order_id"] != old


async def test_r31_no_oversell_under_concurrent_receipts(inv: Inventory) -> None:
    """R08 with transfers: receipts in three warehouses (keyed by SKU) race with cancellations and new
    orders of the same SKU (keyed by order, so handled by both instances at once). The SKU-wide queue is
    served oldest first whatever the interleaving: at the end the filled units are exactly those of the
    oldest orders not cancelled, the ledger rebuilds the levels and the parts add up to them."""
    warehouses = ["wh-a", "wh-b", "wh-c"]
    sku = await inv.sku(backorder={wh: 40 for wh in warehouses})
    await allow_transfers(inv, sku)
    initial = []
    for _ in range(60):  # one unit each, spread over the three warehouses, oldest first
        placed = await inv.place([(sku, 1)])
        assert placed.type == "StockAllocated"
        initial.append(placed.payload["order_id"])
    rng = random.Random(31)
    receipts = [receipt(sku, rng.choice(warehouses), rng.randint(1, 3)) for _ in range(20)]
    received = sum(r.qty for r in receipts)
    cancelled = set(rng.sample(initial, 10))
    assert received < len(initial) - len(cancelled)  # the oldest always wait: no unit is left over
    newer = [inv.order([(sku, 1)]) for _ in range(15)]

    async def cancel(order_id: str) -> Any:
        return await inv.publish("orders.events", o.LinesCancelled(
            order_id=order_id, buyer_id="buyer", lines=[o.CancelledLine(line_id="l1", sku_id=sku)],
            reason="buyer_request", status="cancelled"), key=order_id)

    sends = [*(inv.client.send(r) for r in receipts), *(cancel(x) for x in sorted(cancelled)),
             *(inv.send_order(order) for order in newer)]
    envelopes = await asyncio.gather(*sends)
    await asyncio.gather(*(inv.caused(e) for e in envelopes[:len(receipts) + len(cancelled)]))
    ids = {order.order_id for order in newer}
    outcomes = await inv.client.wait_for(
        lambda e: e.topic == EVENTS and e.type in OUTCOMES and e.payload["order_id"] in ids, count=len(newer))
    assert {e.type for e in outcomes} == {"StockAllocated"}

    filled = {}
    for order_id in initial:
        rows = await inv.allocations(order_id)
        filled[order_id] = sum(p["qty"] for p in rows if p["state"] == "filled")
    kept = [x for x in initial if x not in cancelled]
    assert [x for x in kept if filled[x]] == kept[:received]  # oldest first, across warehouses
    stock = await inv.stock(sku)
    for level in stock["warehouses"]:  # R08: nothing beyond what the ledgers hold
        assert 0 <= level["allocated"] <= level["on_hand"]
        assert 0 <= level["backorder_allocated"] <= level["backorder_limit"]
    assert sum(level["on_hand"] for level in stock["warehouses"]) == received
    assert sum(level["allocated"] for level in stock["warehouses"]) == received
    audit = await inv.audit()
    assert audit["ledger_matches_levels"] and audit["parts_match_levels"], audit
    assert [r for r in await inv.ledger(sku) if r["kind"] == "transfer_fill"]
