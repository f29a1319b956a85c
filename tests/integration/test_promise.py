"""R24: the buyer's promise over HTTP, against the services that accept the order.

Inventory (which quotes) and orders (which dates accepted orders) run as processes on one
clock file; the test plays catalog on ``catalog.events`` and counts stock with inventory
commands. A quote is taken, then the same order is placed through ``orders.commands``: the
accepted parts carry exactly the quoted sources, quantities and dates, and the quote itself
moved no stock.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest

from devstack.client import PlatformClient
from devstack.stack import Stack
from shared.contract import catalog as cat
from shared.contract import orders as o
from shared.contract.inventory import SetStock
from tests.integration.test_orders_support import (
    ClockFile,
    activate,
    event,
    listing,
    publish,
    seller,
    sku_known,
)

pytestmark = pytest.mark.integration

#: Friday 2026-12-04 13:30 in New York, half an hour before the seller's cut-off
T0 = datetime(2026, 12, 4, 18, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def clock(tmp_path_factory: pytest.TempPathFactory) -> ClockFile:
    clock = ClockFile(tmp_path_factory.mktemp("promise-clock") / "now")
    clock.set(T0)
    return clock


@pytest.fixture(scope="module", autouse=True)
def services(stack: Stack, clock: ClockFile) -> Iterator[None]:
    stack.start_service("inventory", extra_env=clock.env)
    stack.start_service("orders", extra_env=clock.env)
    stack.wait_ready()
    yield


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def http(stack: Stack, service: str, path: str) -> tuple[int, Any]:
    url = stack.services[(service, 0)].url + path
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.json()


async def backordered_sku(client: PlatformClient, stack: Stack, *, regular: int, days: int = 5) -> str:
    """A SKU on backorder (100 units in wh-1, ``days`` handling) with ``regular`` units in stock."""
    seller_id, listing_id, sku = uid("seller"), uid("listing"), uid("sku")
    await seller(client, seller_id)
    await listing(client, seller_id, listing_id, [sku])
    await activate(client, seller_id, listing_id, sku, days)
    if regular:  # a count of nothing moves nothing, and is answered with nothing
        counted = await client.send(SetStock(sku_id=sku, warehouse_id="wh-1", on_hand=regular))
        await client.wait_caused_by(counted)
    await sku_known(stack, sku, handling_days=days)  # orders has heard of it too
    # and inventory: it announced the promise in the transaction that stored the handling time
    await client.wait_type("inventory.events", "PromiseChanged", sku_id=sku, handling_days=days)
    return sku


async def test_r24_quote_equals_the_dates_the_order_is_accepted_with(client: PlatformClient, stack: Stack) -> None:
    sku = await backordered_sku(client, stack, regular=2)

    status, promise = await http(stack, "inventory", f"/skus/{sku}/promise?qty=3&region=GB")
    assert status == 200, promise
    assert (promise["orderable"], promise["label"], promise["regular_qty"], promise["backorder_qty"]) == (
        True, "on_back_order", 2, 1)
    _, stock = await http(stack, "inventory", f"/skus/{sku}/stock")
    assert (stock["in_stock"], stock["backorder"]) == (2, 100)  # a quote reserves nothing

    order_id = uid("order")
    await client.send(o.PlaceOrder(order_id=order_id, buyer_id="buyer-1", buyer_email="buyer-1@example.com",
                                   region="GB", lines=[o.OrderLine(line_id="l1", sku_id=sku, qty=3)]))
    accepted = await event(client, order_id, "OrderAccepted")

    parts = accepted.payload["lines"][0]["parts"]
    assert [(p["warehouse_id"], p["source"], p["qty"], p["ship_by"], p["estimated_delivery"]) for p in parts] == [
        (p["warehouse_id"], p["source"], p["qty"], p["ship_by"], p["estimated_delivery"]) for p in promise["parts"]]
    # Friday before the cut-off: regular ships 2 business days on (Tue 8), backorder 5 (Fri 11)
    assert [p["ship_by"] for p in promise["parts"]] == ["2026-12-08", "2026-12-11"]


async def test_r24_sold_out_is_out_of_stock_and_not_orderable(client: PlatformClient, stack: Stack) -> None:
    sku = uid("sku")
    for on_hand in (1, 0):  # counted, then sold out
        counted = await client.send(SetStock(sku_id=sku, warehouse_id="wh-1", on_hand=on_hand))
        await client.wait_caused_by(counted)

    status, promise = await http(stack, "inventory", f"/skus/{sku}/promise?qty=1&region=US")

    assert status == 200, promise
    assert (promise["orderable"], promise["label"], promise["parts"]) == (False, "out_of_stock", [])


@pytest.mark.parametrize(("query", "status", "error"), [
    ("qty=0&region=US", 400, "invalid_quantity"),
    ("qty=-2&region=US", 400, "invalid_quantity"),
    ("qty=two&region=US", 400, "invalid_quantity"),
    ("qty=1&region=ZZ", 400, "unknown_region"),
    ("qty=1", 400, "unknown_region"),
    ("qty=500&region=US", 409, "quantity_exceeds_stock"),
])
async def test_r24_bad_input_is_a_4xx_with_a_reason(client: PlatformClient, stack: Stack, query: str, status: int,
                                                    error: str) -> None:
    sku = await backordered_sku(client, stack, regular=1)

    got, body = await http(stack, "inventory", f"/skus/{sku}/promise?{query}")

    assert (got, body["error"]) == (status, error)


async def test_r24_unknown_sku_is_404(stack: Stack) -> None:
    status, body = await http(stack, "inventory", f"/skus/{uid('nope')}/promise?qty=1&region=US")

    assert (status, body["error"]) == (404, "unknown_sku")


# ---------------------------------------------------------------- R25: promise events


def promises_of(client: PlatformClient, sku: str) -> list[dict[str, Any]]:
    return [o_.payload for o_ in client.matching(
        lambda o_: o_.topic == "inventory.events" and o_.type == "PromiseChanged" and o_.payload["sku_id"] == sku)]


async def wait_promises(client: PlatformClient, sku: str, count: int) -> list[dict[str, Any]]:
    await client.wait_for(lambda o_: o_.topic == "inventory.events" and o_.type == "PromiseChanged"
                          and o_.payload["sku_id"] == sku, count=count)
    return promises_of(client, sku)


async def place_one(client: PlatformClient, sku: str) -> str:
    order_id = uid("order")
    await client.send(o.PlaceOrder(order_id=order_id, buyer_id="buyer-2", buyer_email="buyer-2@example.com",
                                   region="US", lines=[o.OrderLine(line_id="l1", sku_id=sku, qty=1)]))
    return order_id


async def test_r25_one_promise_event_per_change_of_label(client: PlatformClient, stack: Stack) -> None:
    seller_id, listing_id, sku = uid("seller"), uid("listing"), uid("sku")
    await seller(client, seller_id)
    await listing(client, seller_id, listing_id, [sku])
    await publish(client, "catalog.events", cat.BackorderActivated(
        seller_id=seller_id, listing_id=listing_id, sku_id=sku, region="US", timezone="America/New_York",
        handling_days=5, backorder_stock=[cat.WarehouseQty(warehouse_id="wh-1", qty=2)]), key=seller_id)
    first = await wait_promises(client, sku, 1)
    assert (first[0]["label"], first[0]["orderable"], first[0]["handling_days"]) == ("on_back_order", True, 5)
    assert (first[0]["available_regular"], first[0]["available_backorder"], first[0]["dispatch_days"]) == (0, 2, 5)
    counted = await client.send(SetStock(sku_id=sku, warehouse_id="wh-1", on_hand=2))
    await client.wait_caused_by(counted)
    assert [p["label"] for p in await wait_promises(client, sku, 2)] == ["on_back_order", "in_stock"]

    for _ in range(5):  # 2 regular, 2 on back order, 1 rejected
        order_id = await place_one(client, sku)
        await client.wait_for(lambda o_, order_id=order_id: o_.type in ("OrderAccepted", "OrderRejected")
                              and o_.payload.get("order_id") == order_id)

    promises = await wait_promises(client, sku, 4)
    assert [p["label"] for p in promises] == ["on_back_order", "in_stock", "on_back_order", "out_of_stock"]
    assert promises[-1]["orderable"] is False and promises[-1]["ship_by"] is None
    # one backorder unit ordered on Friday before the cut-off: 5 business days of handling, not the regular 2
    assert (promises[2]["ship_by"], promises[2]["estimated_delivery"], promises[2]["dispatch_days"]) == (
        "2026-12-11", "2026-12-18", 5)
    assert (promises[1]["ship_by"], promises[1]["estimated_delivery"], promises[1]["dispatch_days"]) == (
        "2026-12-08", "2026-12-15", 2)


async def test_r25_deactivating_backorder_is_a_promise_event(client: PlatformClient, stack: Stack) -> None:
    sku = await backordered_sku(client, stack, regular=0)
    (first,) = await wait_promises(client, sku, 1)
    assert (first["label"], first["ship_by"], first["estimated_delivery"]) == (
        "on_back_order", "2026-12-11", "2026-12-18")
    seller_id = next(p for p in client.matching(lambda o_: o_.type == "BackorderActivated"
                                                and o_.payload["sku_id"] == sku)).payload["seller_id"]

    await publish(client, "catalog.events", cat.BackorderDeactivated(seller_id=seller_id, listing_id="listing",
                                                                     sku_id=sku), key=seller_id)

    last = (await wait_promises(client, sku, 2))[-1]
    assert (last["label"], last["orderable"], last["available_regular"], last["available_backorder"]) == (
        "out_of_stock", False, 0, 0)
    assert (last["ship_by"], last["estimated_delivery"]) == (None, None)


async def test_r25_handling_days_change_is_a_promise_event_and_a_count_that_shows_nothing_new_is_not(
        client: PlatformClient, stack: Stack) -> None:
    sku = await backordered_sku(client, stack, regular=3)
    assert [p["label"] for p in await wait_promises(client, sku, 2)] == ["on_back_order", "in_stock"]
    counted = await client.send(SetStock(sku_id=sku, warehouse_id="wh-1", on_hand=7))  # still in stock
    await client.wait_caused_by(counted)

    order_id = await place_one(client, sku)  # an order that leaves it in stock
    await event(client, order_id, "OrderAccepted")

    assert len(promises_of(client, sku)) == 2  # nothing a storefront shows changed
    seller_id = next(p for p in client.matching(lambda o_: o_.type == "BackorderActivated"
                                                and o_.payload["sku_id"] == sku)).payload["seller_id"]
    await publish(client, "catalog.events", cat.BackorderActivated(
        seller_id=seller_id, listing_id="listing", sku_id=sku, region="US", timezone="America/New_York",
        handling_days=9, backorder_stock=[cat.WarehouseQty(warehouse_id="wh-1", qty=100)]), key=seller_id)
    promises = await wait_promises(client, sku, 3)
    assert (promises[-1]["label"], promises[-1]["handling_days"]) == ("in_stock", 9)


async def test_r25_flash_sale_sends_a_promise_event_per_label_not_per_order(client: PlatformClient,
                                                                             stack: Stack) -> None:
    """50 buyers at once for 20 regular and 20 backorder units: at most two label changes."""
    seller_id, listing_id, sku = uid("seller"), uid("listing"), uid("sku")
    await seller(client, seller_id)
    await listing(client, seller_id, listing_id, [sku])
    await publish(client, "catalog.events", cat.BackorderActivated(
        seller_id=seller_id, listing_id=listing_id, sku_id=sku, region="US", timezone="America/New_York",
        handling_days=5, backorder_stock=[cat.WarehouseQty(warehouse_id="wh-1", qty=20)]), key=seller_id)
    counted = await client.send(SetStock(sku_id=sku, warehouse_id="wh-1", on_hand=20))
    await client.wait_caused_by(counted)
    await wait_promises(client, sku, 2)

    order_ids = [await place_one(client, sku) for _ in range(50)]
    wanted = set(order_ids)
    await client.wait_for(lambda o_: o_.type in ("OrderAccepted", "OrderRejected")
                          and o_.payload.get("order_id") in wanted, count=50, timeout=60)

    during = promises_of(client, sku)[2:]
    assert 1 <= len(during) <= 2, during
    assert during[-1]["label"] == "out_of_stock"
    print(f"flash sale: 50 orders, {len(during)} PromiseChanged")
