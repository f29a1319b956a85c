"""Inventory rules R07-R12, R17 and R19 through Kafka, against the running service alone.

The tests play catalog and orders by publishing their events (``catalog.events`` keyed by
seller, ``orders.events`` keyed by order) and send inventory commands; they assert on
``inventory.events`` and the service's HTTP routes. Each test uses its own SKUs, sellers
and orders, so they share one service and never sleep: they wait for the events their
messages cause.
"""

from __future__ import annotations

import json
import random
from datetime import timedelta

import pytest

from devstack.client import PlatformClient
from devstack.stack import Stack
from shared.contract.envelope import Principal
from shared.contract.inventory import PrioritizeBackorder, ReceiveStock, SetStock, SetStockPolicy
from tests.integration.inventory_support import EVENTS, T0, Inventory, parts_of, uid

pytestmark = pytest.mark.integration

#: the configured warehouse priorities of the allocation strategy (lower first); others get 100
PRIORITY = {"wh-near": 1, "wh-mid": 2, "wh-far": 3}


@pytest.fixture(scope="module", autouse=True)
def services(stack: Stack) -> None:
    stack.start_service("inventory", extra_env={"WAREHOUSE_PRIORITY": json.dumps(PRIORITY)})
    stack.wait_ready()


@pytest.fixture
def inv(client: PlatformClient, stack: Stack) -> Inventory:
    return Inventory(client, stack)


def receipt(sku_id: str, qty: int, warehouse_id: str = "wh-1") -> ReceiveStock:
    return ReceiveStock(receipt_id=uid("rcpt"), sku_id=sku_id, warehouse_id=warehouse_id, qty=qty)


# ---------------------------------------------------------------- R07-R09: allocation


async def test_r07_regular_stock_used_before_backorder(inv: Inventory) -> None:
    sku = await inv.sku(regular={"wh-1": 2}, backorder={"wh-1": 5})

    assert parts_of(await inv.place([(sku, 2)])) == [("wh-1", "regular", 2)]
    assert parts_of(await inv.place([(sku, 1)])) == [("wh-1", "backorder", 1)]

    stock = await inv.stock(sku)
    assert (stock["in_stock"], stock["backorder"]) == (0, 4)


async def test_r07_backorder_only_for_skus_on_backorder(inv: Inventory) -> None:
    """Backorder stock is used only while catalog says the SKU is on backorder."""
    sku = await inv.sku(regular={"wh-1": 1})

    rejected = await inv.place([(sku, 2)])

    assert rejected.type == "AllocationRejected"
    assert rejected.payload["reason"] == "out_of_stock"


async def test_r08_exhausted_sku_rejects_out_of_stock_and_holds_nothing(inv: Inventory) -> None:
    sku = await inv.sku(regular={"wh-1": 1}, backorder={"wh-1": 1})
    other = await inv.sku(regular={"wh-1": 5})
    assert parts_of(await inv.place([(sku, 2)])) == [("wh-1", "regular", 1), ("wh-1", "backorder", 1)]

    rejected = await inv.place([("a", other, 3), ("b", sku, 1), ("c", uid("unknown-sku"), 1)])

    assert rejected.type == "AllocationRejected"
    assert rejected.payload["reason"] == "out_of_stock"
    assert rejected.payload["line_ids"] == ["b", "c"]  # names the lines that cannot be filled
    assert await inv.allocations(rejected.payload["order_id"]) == []
    assert (await inv.stock(other))["in_stock"] == 5  # the fillable line kept nothing: all or nothing


async def test_r08_a_replayed_order_is_allocated_once(inv: Inventory, client: PlatformClient) -> None:
    sku = await inv.sku(regular={"wh-1": 5})
    order = inv.order([(sku, 2)])
    envelope = client.envelope(order)
    raw = envelope.model_dump_json().encode()

    await client.send_raw("orders.events", raw, key=order.order_id)
    await client.send_raw("orders.events", raw, key=order.order_id)  # redelivered: same event id
    await inv.send_order(order)  # published again by orders: a new event id, the same order
    await inv.cancel(order.order_id, ["l1"])  # same key, so handled after the three

    allocated = client.matching(lambda o: o.type == "StockAllocated" and o.payload["order_id"] == order.order_id)
    assert len(allocated) == 1
    stock = await inv.stock(sku)
    assert (stock["in_stock"], stock["by_warehouse"]["wh-1"]["allocated"]) == (5, 0)


async def test_r08_count_below_allocated_is_rejected(inv: Inventory) -> None:
    sku = await inv.sku(regular={"wh-1": 3})
    await inv.place([(sku, 2)])

    rejected = await inv.command(SetStock(sku_id=sku, warehouse_id="wh-1", on_hand=1), message_type="CommandRejected")

    assert rejected[0].payload["reason"] == "count_below_allocated"
    assert (await inv.stock(sku))["by_warehouse"]["wh-1"]["on_hand"] == 3


async def test_r09_line_split_over_sources_and_warehouses(inv: Inventory) -> None:
    sku = await inv.sku(regular={"wh-near": 2, "wh-far": 3}, backorder={"wh-mid": 4, "wh-far": 4})

    allocated = await inv.place([(sku, 9)])

    # regular 5 fits no single warehouse: largest first; backorder 4 fits wh-mid and wh-far whole: priority
    assert parts_of(allocated) == [("wh-far", "regular", 3), ("wh-near", "regular", 2), ("wh-mid", "backorder", 4)]
    parts = await inv.allocations(allocated.payload["order_id"])
    assert [(p["warehouse_id"], p["source"], p["qty"], p["state"]) for p in parts] == [
        ("wh-far", "regular", 3, "allocated"), ("wh-near", "regular", 2, "allocated"),
        ("wh-mid", "backorder", 4, "waiting")]


async def test_r09_warehouse_strategy_prefers_one_warehouse_by_priority(inv: Inventory) -> None:
    sku = await inv.sku(regular={"wh-far": 10, "wh-mid": 6, "wh-near": 4})

    # 5 fits whole in wh-far and wh-mid: the better priority wins over the larger stock
    assert parts_of(await inv.place([(sku, 5)])) == [("wh-mid", "regular", 5)]
    # 4 fits whole in wh-near and wh-far: wh-near has the best priority
    assert parts_of(await inv.place([(sku, 4)])) == [("wh-near", "regular", 4)]
    # 11 fits nowhere whole (wh-far 10, wh-mid 1): the fewest warehouses
    assert parts_of(await inv.place([(sku, 11)])) == [("wh-far", "regular", 10), ("wh-mid", "regular", 1)]


async def test_r09_warehouse_strategy_uses_the_fewest_warehouses(inv: Inventory) -> None:
    sku = await inv.sku(regular={"wh-near": 3, "wh-mid": 4, "wh-far": 5})

    # 8: two warehouses (largest first), not the three that priority order would take
    assert parts_of(await inv.place([(sku, 8)])) == [("wh-far", "regular", 5), ("wh-mid", "regular", 3)]


# ---------------------------------------------------------------- R10: seller-facing levels


async def test_r10_total_is_in_stock_plus_backorder(inv: Inventory, client: PlatformClient) -> None:
    sku = await inv.sku(regular={"wh-1": 4, "wh-2": 1}, backorder={"wh-1": 3})
    stock = await inv.stock(sku)
    assert (stock["in_stock"], stock["backorder"], stock["total"]) == (5, 3, 8)

    await inv.place([(sku, 6)])  # 5 regular (4 + 1) and 1 backorder

    changed = (await client.wait_type(EVENTS, "StockChanged", sku_id=sku, warehouse_id="wh-1", total=2))[0].payload
    assert (changed["on_hand"], changed["allocated"], changed["backorder_limit"], changed["backorder_allocated"]) == (
        4, 4, 3, 1)
    assert (changed["sku_total"], changed["available_to_promise"], changed["sku_available_to_promise"]) == (2, 0, 0)
    stock = await inv.stock(sku)
    assert (stock["in_stock"], stock["backorder"], stock["total"]) == (0, 2, 2)


async def test_r10_available_to_promise_excludes_safety_stock_across_warehouses(inv: Inventory,
                                                                              client: PlatformClient) -> None:
    sku = await inv.sku(regular={"wh-1": 3, "wh-2": 3}, backorder={"wh-1": 5})
    changed = await inv.command(SetStockPolicy(sku_id=sku, safety_stock=4), expect=2, message_type="StockChanged")

    assert {c.payload["sku_available_to_promise"] for c in changed} == {2}
    stock = await inv.stock(sku)
    assert stock["available_to_promise"] == 2
    assert {w: v["available_to_promise"] for w, v in stock["by_warehouse"].items()} == {"wh-1": 2, "wh-2": 2}
    # 2 units are promisable although no single warehouse's stock exceeds the safety stock
    assert parts_of(await inv.place([(sku, 3)])) == [("wh-1", "regular", 2), ("wh-1", "backorder", 1)]
    # wh-2 did not move, but it has nothing left to promise now: sellers are told so
    wh2 = await client.wait_type(EVENTS, "StockChanged", sku_id=sku, warehouse_id="wh-2", available_to_promise=0)
    assert (wh2[0].payload["on_hand"], wh2[0].payload["total"], wh2[0].payload["sku_available_to_promise"]) == (3, 3, 0)
    assert parts_of(await inv.place([(sku, 1)])) == [("wh-1", "backorder", 1)]  # the safety stock stays

    plain = await inv.sku(regular={"wh-1": 2, "wh-2": 2})
    await inv.command(SetStockPolicy(sku_id=plain, safety_stock=3), expect=2, message_type="StockChanged")
    assert (await inv.place([(plain, 2)])).type == "AllocationRejected"
    assert parts_of(await inv.place([(plain, 1)])) == [("wh-1", "regular", 1)]


async def test_r10_a_movement_announces_the_warehouses_whose_own_figures_changed(inv: Inventory,
                                                                                  client: PlatformClient) -> None:
    sku = await inv.sku(regular={"wh-1": 5, "wh-2": 5})
    order = inv.order([(sku, 2)])
    placed = await inv.send_order(order)
    ((moved, _, _),) = parts_of(await inv.outcome(order.order_id))
    # a later message on the same partition (key: SKU) shows every StockChanged before it has arrived
    await inv.command(receipt(sku, 1, "wh-3"), message_type="StockChanged")

    cause = str(placed.event_id)
    changed = client.matching(lambda o: o.type == "StockChanged" and o.value.get("causation_id") == cause)
    # the other warehouse can promise what it could before: it is not repeated; the SKU's figures ride along
    assert [(c.payload["warehouse_id"], c.payload["allocated"], c.payload["available_to_promise"],
             c.payload["sku_available_to_promise"], c.payload["sku_total"]) for c in changed] == [(moved, 2, 3, 8, 8)]


async def test_r10_low_stock_alert_once_per_crossing(inv: Inventory, client: PlatformClient) -> None:
    sku = await inv.sku(regular={"wh-1": 6, "wh-2": 4})
    await inv.command(SetStockPolicy(sku_id=sku, low_stock_threshold=5), expect=2, message_type="StockChanged")

    await inv.place([(sku, 5)])  # ATP 10 -> 5: not below
    await inv.place([(sku, 1)])  # 5 -> 4: alert
    await client.wait_type(EVENTS, "LowStock", sku_id=sku, available_to_promise=4, threshold=5)
    await inv.place([(sku, 2)])  # 4 -> 2: still below, no second alert
    await inv.command(receipt(sku, 10), message_type="StockChanged")  # 2 -> 12: re-armed
    await inv.place([(sku, 9)])  # 12 -> 3: alert again
    await client.wait_type(EVENTS, "LowStock", sku_id=sku, available_to_promise=3)
    # a later message on the same partition (key: SKU) shows every alert before it has arrived
    await inv.command(receipt(sku, 1), message_type="StockChanged")

    alerts = client.matching(lambda o: o.type == "LowStock" and o.payload["sku_id"] == sku)
    assert [(a.payload["available_to_promise"], a.payload["warehouse_id"]) for a in alerts] == [(4, None), (3, None)]


# ---------------------------------------------------------------- R11, R19: restocks


async def test_r11_receipt_releases_oldest_backorders_first(inv: Inventory) -> None:
    sku = await inv.sku(backorder={"wh-1": 10})
    orders = [inv.order([(sku, 1)], placed_at=T0 + timedelta(minutes=n)) for n in range(10)]
    # Placed in this order, published scrambled: keyed by order id they land on different
    # partitions and are allocated in any order; placed_at is when they were placed.
    for order in random.Random(11).sample(orders, len(orders)):
        await inv.send_order(order)
    for order in orders:
        assert parts_of(await inv.outcome(order.order_id)) == [("wh-1", "backorder", 1)]

    released = await inv.command(receipt(sku, 6), expect=6, message_type="BackorderReleased")

    oldest = [order.order_id for order in orders[:6]]
    assert {r.payload["order_id"] for r in released} == set(oldest)
    fills = [row["order_id"] for row in await inv.ledger(sku) if row["kind"] == "backorder_fill"]
    assert fills == oldest  # exactly the six oldest, in order of placement
    for order in orders[6:]:
        assert [p["state"] for p in await inv.allocations(order.order_id)] == ["waiting"]
    level = (await inv.stock(sku))["by_warehouse"]["wh-1"]
    assert (level["on_hand"], level["allocated"], level["backorder_allocated"], level["in_stock"]) == (6, 6, 4, 0)


async def test_r11_receipt_fills_partly_then_the_rest_becomes_regular_stock(inv: Inventory) -> None:
    sku = await inv.sku(backorder={"wh-1": 5})
    first = (await inv.place([(sku, 3)])).payload["order_id"]
    second = (await inv.place([(sku, 1)])).payload["order_id"]

    released = await inv.command(receipt(sku, 2), message_type="BackorderReleased")
    assert (released[0].payload["order_id"], released[0].payload["qty"]) == (first, 2)
    assert sorted((p["state"], p["qty"]) for p in await inv.allocations(first)) == [("filled", 2), ("waiting", 1)]

    rcpt = receipt(sku, 4)
    released = await inv.command(rcpt, expect=2, message_type="BackorderReleased")
    assert sorted((r.payload["order_id"], r.payload["qty"]) for r in released) == sorted([(first, 1), (second, 1)])
    assert {r.payload["receipt_id"] for r in released} == {rcpt.receipt_id}
    stock = await inv.stock(sku)
    assert (stock["in_stock"], stock["backorder"], stock["total"]) == (2, 1, 3)
    assert parts_of(await inv.place([(sku, 2)])) == [("wh-1", "regular", 2)]


async def test_r11_receipt_id_makes_a_restock_idempotent(inv: Inventory, client: PlatformClient) -> None:
    sku = await inv.sku(regular={"wh-1": 1})
    rcpt = receipt(sku, 5)
    await inv.command(rcpt, message_type="StockChanged")

    await client.send(rcpt)  # the same receipt again, in a new message
    reused = await inv.command(rcpt.model_copy(update={"qty": 7}), message_type="CommandRejected")

    assert reused[0].payload["reason"] == "receipt_id_reused"
    assert (await inv.stock(sku))["by_warehouse"]["wh-1"]["on_hand"] == 6
    assert [row["kind"] for row in await inv.ledger(sku)] == ["count", "receipt"]


async def test_r19_seller_priority_goes_before_placement_order(inv: Inventory, client: PlatformClient) -> None:
    sku = await inv.sku(backorder={"wh-1": 5})
    first, second, third = [(await inv.place([(sku, 1)])).payload["order_id"] for _ in range(3)]
    seller = Principal(kind="seller", id=inv.seller_id)

    # Handled before the receipts below: inventory commands are keyed by SKU, so they stay in order.
    await client.send(PrioritizeBackorder(sku_id=sku, order_id=third, priority=10), principal=seller)

    released = [(await inv.command(receipt(sku, 1), message_type="BackorderReleased"))[0].payload["order_id"]
                for _ in range(3)]
    assert released == [third, first, second]

    nothing = await inv.command(PrioritizeBackorder(sku_id=sku, order_id=first, priority=5), principal=seller,
                                message_type="CommandRejected")
    assert nothing[0].payload["reason"] == "nothing_waiting"
    stranger = await inv.command(PrioritizeBackorder(sku_id=sku, order_id=first, priority=5),
                                 principal=Principal(kind="seller", id=uid("other-seller")),
                                 message_type="CommandRejected")
    assert stranger[0].payload["reason"] == "not_owner"


# ---------------------------------------------------------------- R12: the ledger


async def test_r12_every_movement_is_in_the_ledger_with_its_cause(inv: Inventory, client: PlatformClient) -> None:
    sku = await inv.sku(backorder={"wh-1": 2})
    seller = Principal(kind="seller", id=inv.seller_id)
    count = await client.send(SetStock(sku_id=sku, warehouse_id="wh-1", on_hand=1), principal=seller)
    await inv.caused(count, "StockChanged")
    order = inv.order([(sku, 2)])
    placed = await inv.send_order(order)
    await inv.outcome(order.order_id)
    await inv.command(receipt(sku, 1), message_type="BackorderReleased")
    await inv.cancel(order.order_id, ["l1"])

    rows = await inv.ledger(sku)

    deltas = [(r["kind"], r["on_hand"], r["allocated"], r["backorder_limit"], r["backorder_allocated"]) for r in rows]
    assert deltas == [
        ("backorder_limit", 0, 0, 2, 0),
        ("count", 1, 0, 0, 0),
        ("allocation", 0, 1, 0, 0),
        ("backorder_allocation", 0, 0, 0, 1),
        ("receipt", 1, 0, 0, 0),
        ("backorder_fill", 0, 1, -1, -1),
        ("release", 0, -1, 0, 0),
        ("release", 0, -1, 0, 0),
    ]
    assert (rows[0]["cause_type"], rows[0]["actor"]) == ("BackorderActivated", f"seller:{inv.seller_id}")
    assert (rows[1]["cause_id"], rows[1]["cause_type"], rows[1]["actor"]) == (
        str(count.event_id), "SetStock", f"seller:{inv.seller_id}")
    assert (rows[2]["cause_id"], rows[2]["cause_type"], rows[2]["actor"], rows[2]["order_id"]) == (
        str(placed.event_id), "OrderPlaced", f"buyer:{order.buyer_id}", order.order_id)
    assert all(r["recorded_at"] for r in rows)
    level = (await inv.stock(sku))["by_warehouse"]["wh-1"]
    assert tuple(sum(d[i] for d in deltas) for i in range(1, 5)) == (
        level["on_hand"], level["allocated"], level["backorder_limit"], level["backorder_allocated"])
    audit = await inv.audit()
    assert audit["ledger_matches_levels"] and audit["parts_match_levels"], audit


# ---------------------------------------------------------------- R17: release on cancel


async def test_r17_cancel_returns_units_to_the_ledger_they_came_from(inv: Inventory) -> None:
    sku = await inv.sku(regular={"wh-1": 1}, backorder={"wh-1": 2})
    order = (await inv.place([(sku, 2)])).payload["order_id"]  # 1 regular + 1 backorder (waiting)
    stock = await inv.stock(sku)
    assert (stock["in_stock"], stock["backorder"]) == (0, 1)

    await inv.cancel(order, ["l1"])

    stock = await inv.stock(sku)
    level = stock["by_warehouse"]["wh-1"]
    assert (stock["in_stock"], stock["backorder"]) == (1, 2)  # regular to regular, backorder capacity freed
    assert (level["on_hand"], level["allocated"], level["backorder_limit"], level["backorder_allocated"]) == (
        1, 0, 2, 0)
    rows = await inv.ledger(sku)
    assert [(r["kind"], r["allocated"], r["backorder_allocated"]) for r in rows[-2:]] == [
        ("release", -1, 0), ("backorder_release", 0, -1)]
    assert [p["state"] for p in await inv.allocations(order)] == ["released", "released"]


async def test_r17_units_of_a_cancelled_filled_part_go_to_the_next_waiting_order(inv: Inventory) -> None:
    sku = await inv.sku(backorder={"wh-1": 3})
    first = (await inv.place([(sku, 1)])).payload["order_id"]
    second = (await inv.place([(sku, 1)])).payload["order_id"]
    await inv.command(receipt(sku, 1), message_type="BackorderReleased")  # fills the first

    events = await inv.cancel(first, ["l1"], expect=2)

    released = [e for e in events if e.type == "BackorderReleased"]
    assert [r.payload["order_id"] for r in released] == [second]
    assert [p["state"] for p in await inv.allocations(second)] == ["filled"]


# ---------------------------------------------------------------- R06 in inventory: deactivation


async def test_r06_deactivation_stops_new_backorder_allocation_but_keeps_existing_parts(inv: Inventory) -> None:
    sku = await inv.sku(regular={"wh-1": 1}, backorder={"wh-1": 5})
    order = (await inv.place([(sku, 2)])).payload["order_id"]  # 1 regular + 1 backorder

    changed = await inv.deactivate(sku)

    assert (changed[0].payload["total"], changed[0].payload["backorder_allocated"]) == (0, 1)
    rejected = await inv.place([(sku, 1)])
    assert (rejected.type, rejected.payload["reason"]) == ("AllocationRejected", "out_of_stock")
    assert sorted(p["state"] for p in await inv.allocations(order)) == ["allocated", "waiting"]
    released = await inv.command(receipt(sku, 1), message_type="BackorderReleased")  # still served
    assert released[0].payload["order_id"] == order

    await inv.activate(sku, {"wh-1": 2})  # on backorder again: 2 more may be sold
    assert parts_of(await inv.place([(sku, 2)])) == [("wh-1", "backorder", 2)]


# ---------------------------------------------------------------- shipments, ownership, DLQ


async def test_shipped_lines_leave_the_ledgers(inv: Inventory) -> None:
    sku = await inv.sku(regular={"wh-1": 3}, backorder={"wh-1": 2})
    order = (await inv.place([(sku, 4)])).payload["order_id"]  # 3 regular + 1 backorder, still waiting

    await inv.ship(order, ["l1"])

    level = (await inv.stock(sku))["by_warehouse"]["wh-1"]
    assert (level["on_hand"], level["allocated"], level["backorder_limit"], level["backorder_allocated"]) == (
        0, 0, 1, 0)  # the waiting part was shipped: its backorder promise is used up
    assert [r["kind"] for r in (await inv.ledger(sku))[-2:]] == ["shipment", "backorder_shipment"]
    # a later receipt is not given to the shipped line
    assert (await inv.command(receipt(sku, 1), message_type="StockChanged"))[0].payload["total"] == 2


async def test_r06a_a_seller_may_only_move_its_own_stock(inv: Inventory) -> None:
    sku = await inv.sku(backorder={"wh-1": 1})  # the activation proves the listing was handled

    rejected = await inv.command(SetStock(sku_id=sku, warehouse_id="wh-1", on_hand=5),
                                 principal=Principal(kind="seller", id=uid("other-seller")),
                                 message_type="CommandRejected")

    assert (rejected[0].payload["reason"], rejected[0].payload["command_type"]) == ("not_owner", "SetStock")
    assert (await inv.stock(sku))["in_stock"] == 0


async def test_undecodable_messages_go_to_the_dead_letter_topics(inv: Inventory, client: PlatformClient) -> None:
    key = uid("dlq")
    bad = client.envelope(SetStock(sku_id=key, warehouse_id="wh-1", on_hand=1)).model_dump(mode="json")
    bad["payload"]["on_hand"] = -1
    await client.send_raw("inventory.commands", json.dumps(bad).encode(), key=key)
    await client.send_raw("orders.events", b"{not json", key=key)

    letters = await client.wait_for(lambda o: o.topic.endswith(".dlq") and o.key == key, count=2)

    assert sorted((x.topic, x.value["reason"]) for x in letters) == [
        ("inventory.commands.dlq", "invalid_payload"), ("orders.events.dlq", "not_json")]
    assert (await inv.stock(key))["warehouses"] == []


async def test_r12_audit_finds_ledgers_and_parts_consistent(inv: Inventory) -> None:
    """Last in the module: after everything above, the ledgers still rebuild to the levels."""
    audit = await inv.audit()

    assert audit["ledger_matches_levels"], audit
    assert audit["parts_match_levels"], audit
    assert audit["ledger_rows"] > 50
