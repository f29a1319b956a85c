"""R08 under concurrency: a flash sale on one SKU, through Kafka, against two inventory
instances in one consumer group.

2,000 single-unit orders (keyed by order id, so spread over every partition and both
instances) for a SKU with 500 regular and 300 backorder units, plus 200 of them published
a second time (orders republishing: new event ids, same orders), all sent at once. The
result must be exactly 500 regular parts, 300 backorder parts and 1,200 rejections, one
decision per order, and ledgers that rebuild to the stored levels.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections import Counter
from datetime import timedelta

import aiohttp
import pytest

from devstack.client import PlatformClient
from devstack.stack import Stack
from tests.integration.inventory_support import EVENTS, OUTCOMES, T0, Inventory

pytestmark = pytest.mark.integration

ORDERS, REPUBLISHED = 2_000, 200
REGULAR = {"wh-a": 300, "wh-b": 200}
BACKORDER = {"wh-a": 100, "wh-b": 200}


@pytest.fixture(scope="module", autouse=True)
def services(stack: Stack) -> None:
    stack.start_service("inventory", 0)
    stack.start_service("inventory", 1)
    stack.wait_ready()


async def handled_orders(inv: Inventory, instance: int) -> float:
    """How many ``OrderPlaced`` this instance handled (its Prometheus counter)."""
    async with aiohttp.ClientSession() as session, session.get(inv.url(instance) + "/metrics") as response:
        text = await response.text()
    pattern = r'backorder_messages_handled_total\{[^}]*topic="orders.events"[^}]*type="OrderPlaced"[^}]*\} (\S+)'
    return sum(float(value) for value in re.findall(pattern, text))


async def test_r08_no_oversell_with_two_instances_and_2000_orders(client: PlatformClient, stack: Stack) -> None:
    inv = Inventory(client, stack)
    sku = await inv.sku(regular=REGULAR, backorder=BACKORDER)
    orders = [inv.order([(sku, 1)], placed_at=T0 + timedelta(milliseconds=n)) for n in range(ORDERS)]
    again = random.Random(8).sample(orders, REPUBLISHED)
    ids = {order.order_id for order in orders}

    started = time.monotonic()
    await asyncio.gather(*(inv.send_order(order) for order in [*orders, *again]))
    sent = time.monotonic()
    outcomes = await client.wait_for(
        lambda o: o.topic == EVENTS and o.type in OUTCOMES and o.payload["order_id"] in ids, count=ORDERS, timeout=90)
    done = time.monotonic()

    assert len({o.payload["order_id"] for o in outcomes}) == ORDERS == len(outcomes)  # one decision per order
    parts = Counter((p["warehouse_id"], p["source"]) for o in outcomes if o.type == "StockAllocated"
                    for line in o.payload["lines"] for p in line["parts"])
    assert sum(n for (_, source), n in parts.items() if source == "regular") == 500
    assert sum(n for (_, source), n in parts.items() if source == "backorder") == 300
    assert parts == {("wh-a", "regular"): 300, ("wh-b", "regular"): 200,
                     ("wh-a", "backorder"): 100, ("wh-b", "backorder"): 200}
    rejections = [o for o in outcomes if o.type == "AllocationRejected"]
    assert len(rejections) == 1_200
    assert {(r.payload["reason"], tuple(r.payload["line_ids"])) for r in rejections} == {("out_of_stock", ("l1",))}

    stock = await inv.stock(sku)
    assert (stock["in_stock"], stock["backorder"], stock["total"]) == (0, 0, 0)
    for warehouse, level in stock["by_warehouse"].items():
        assert (level["on_hand"], level["allocated"]) == (REGULAR[warehouse],) * 2
        assert (level["backorder_limit"], level["backorder_allocated"]) == (BACKORDER[warehouse],) * 2
    kinds = Counter(row["kind"] for row in await inv.ledger(sku))
    assert (kinds["allocation"], kinds["backorder_allocation"]) == (500, 300)
    for instance in (0, 1):
        audit = await inv.audit()
        assert audit["ledger_matches_levels"] and audit["parts_match_levels"], audit
        assert await handled_orders(inv, instance) > 0  # both instances allocated part of the sale
    print(f"\n{ORDERS} orders (+{REPUBLISHED} republished) on 2 instances: sent in {sent - started:.2f}s, "
          f"all decided {done - started:.2f}s after the first was sent "
          f"(instance 0: {await handled_orders(inv, 0):.0f}, instance 1: {await handled_orders(inv, 1):.0f})")
