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
from shared.contract import orders as o
from shared.contract.inventory import SetStock
from tests.integration.test_orders_support import (
    ClockFile,
    activate,
    event,
    listing,
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
    counted = await client.send(SetStock(sku_id=sku, warehouse_id="wh-1", on_hand=regular))
    await client.wait_caused_by(counted)
    await sku_known(stack, sku, handling_days=days)  # orders has heard of it too
    status, body = 0, None
    while status != 200 or body.get("handling_days") != days:  # and inventory
        status, body = await http(stack, "inventory", f"/skus/{sku}/promise?qty=1&region=US")
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
