"""R26: a buyer lists its own orders, and hears of a rejected one, through the whole platform.

All four services run as processes on one clock file standing still at Monday 2026-11-23 10:00 in
New York, so the dates are pinned to the day; the test plays catalog on ``catalog.events``, counts
stock with inventory commands and places orders through ``orders.commands``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from devstack.client import PlatformClient
from devstack.smtp import read_mail
from devstack.stack import Stack
from shared.contract import orders as o
from shared.contract.envelope import Principal
from shared.contract.inventory import ReceiveStock, SetStock
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


#: the services' clock (the platform fixture's): a test moves it on by seconds, within one day
CLOCK: list[ClockFile] = []


@pytest.fixture(scope="module", autouse=True)
def platform(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    clock = ClockFile(tmp_path_factory.mktemp("clock") / "now")
    clock.set("2026-11-23T15:00:00+00:00")
    CLOCK.append(clock)
    stack.service_env_extra.update(clock.env)
    stack.start_all()
    yield stack


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def get(stack: Stack, path: str, principal: str | None = None) -> tuple[int, Any, str | None]:
    headers = {"X-Principal": principal} if principal else {}
    url = stack.services[("orders", 0)].url + path
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as response:
        return response.status, await response.json(), response.headers.get("X-Next-Cursor")


async def place(client: PlatformClient, buyer_id: str, sku: str, qty: int) -> str:
    order_id = uid("order")
    await client.send(o.PlaceOrder(order_id=order_id, buyer_id=buyer_id, buyer_email=f"{buyer_id}@example.com",
                                   region="US", lines=[o.OrderLine(line_id="l1", sku_id=sku, qty=qty)]))
    return order_id


async def backorder_sku(client: PlatformClient, stack: Stack, on_hand: int) -> tuple[str, str]:
    """A new seller's SKU on backorder (5 handling days) with ``on_hand`` regular units, known to inventory."""
    seller_id, listing_id, sku = uid("seller"), uid("listing"), uid("sku")
    await seller(client, seller_id)
    await listing(client, seller_id, listing_id, [sku])
    await activate(client, seller_id, listing_id, sku, 5)
    await client.wait_caused_by(await client.send(SetStock(sku_id=sku, warehouse_id="wh-1", on_hand=on_hand)))
    await sku_known(stack, sku, handling_days=5)
    return seller_id, sku


async def test_r26_a_buyer_lists_its_own_orders_paged_with_lines_parts_status_and_dates(
        client: PlatformClient, stack: Stack) -> None:
    _, sku = await backorder_sku(client, stack, on_hand=1)
    buyer, other = uid("buyer"), uid("buyer")
    mine = []
    for n, qty in enumerate((1, 2, 1)):  # regular; then back order
        CLOCK[-1].set(f"2026-11-23T15:00:0{n + 1}+00:00")  # one placement a second: "newest first" is defined
        mine.append(await place(client, buyer, sku, qty))
        await event(client, mine[-1], "OrderAccepted")
    theirs = await place(client, other, sku, 1)
    await event(client, theirs, "OrderAccepted")

    status, first, cursor = await get(stack, f"/buyers/{buyer}/orders?limit=2", principal=f"buyer:{buyer}")
    assert status == 200 and cursor is not None
    status, second, last = await get(stack, f"/buyers/{buyer}/orders?limit=2&cursor={cursor}")
    assert status == 200 and last is None

    listed = first + second
    assert [x["order_id"] for x in listed] == list(reversed(mine))  # newest first, each once, only the buyer's
    oldest = listed[-1]
    assert oldest["status"] == "awaiting_shipment"
    (line,) = oldest["lines"]
    assert [(p["source"], p["qty"]) for p in line["parts"]] == [("regular", 1)]
    # regular: 2 business days to ship, 5 in transit (Thanksgiving skipped)
    assert (line["state"], line["ship_by"], line["estimated_delivery"]) == ("ready_to_ship", "2026-11-25",
                                                                            "2026-12-03")
    backordered = listed[1]
    assert (backordered["status"], backordered["tags"]) == ("awaiting_shipment", ["back_order"])
    (line,) = backordered["lines"]
    # on back order: the seller's 5 handling days, then transit; the line waits for both units
    assert (line["state"], line["waiting_qty"], line["ship_by"], line["estimated_delivery"], line["due_at"]) == (
        "awaiting_stock", 2, "2026-12-01", "2026-12-08", "2026-12-02T05:00:00+00:00")
    assert [(p["source"], p["qty"], p["ship_by"], p["estimated_delivery"]) for p in line["parts"]] == [
        ("backorder", 2, "2026-12-01", "2026-12-08")]


@pytest.mark.parametrize(("principal", "status", "error"), [
    ("buyer:someone-else", 403, "not_owner"),
    ("seller:seller-1", 403, "forbidden"),
])
async def test_r26_a_buyer_principal_sees_only_its_own_orders(stack: Stack, principal: str, status: int,
                                                               error: str) -> None:
    got, body, _ = await get(stack, "/buyers/buyer-1/orders", principal=principal)

    assert (got, body["error"]) == (status, error)


async def test_r26_a_rejected_order_is_told_once_in_app_and_email_with_its_reason(
        client: PlatformClient, stack: Stack) -> None:
    buyer = uid("buyer")
    order_id = await place(client, buyer, uid("never-stocked"), 1)
    rejected = await event(client, order_id, "OrderRejected")
    assert rejected.payload["reason"] == "out_of_stock"  # version 1 for this release (upcasting.EMITTED)

    sent = await client.wait_for(lambda o_: o_.type == "NotificationSent" and o_.payload["order_id"] == order_id,
                                 count=2)
    assert sorted((s.payload["channel"], s.payload["kind"]) for s in sent) == [("app", "rejected"),
                                                                               ("email", "rejected")]
    app = next(s for s in sent if s.payload["channel"] == "app")
    assert "out of stock" in app.payload["message"]

    # redelivered: the same fact again tells nothing new (R22); a later message on the partition is the barrier
    await publish(client, "orders.events", o.OrderRejected(**rejected.payload), key=order_id)
    barrier = uid("order")
    await publish(client, "orders.events", o.OrderRejected(order_id=barrier, buyer_id=buyer, reason="out_of_stock",
                                                          line_ids=["l1"]), key=order_id)
    await client.wait_for(lambda o_: o_.type == "NotificationSent" and o_.payload["order_id"] == barrier)
    again = client.matching(lambda o_: o_.type == "NotificationSent" and o_.payload["order_id"] == order_id)
    assert len(again) == 2

    mails = [m for m in read_mail(stack.mail_dir) if order_id in str(m["Subject"])]
    assert len(mails) == 1
    text = mails[0].get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert "out of stock" in text and "not be charged" in text


# ---------------------------------------------------------------- R27: split lines


async def test_r27_in_stock_units_ship_now_the_rest_once_released_and_each_shipment_is_told(
        client: PlatformClient, stack: Stack) -> None:
    seller_id, sku = await backorder_sku(client, stack, on_hand=2)
    buyer = uid("buyer")
    order_id = await place(client, buyer, sku, 5)  # 2 regular + 3 on back order
    await event(client, order_id, "OrderAccepted")
    as_seller = Principal(kind="seller", id=seller_id)

    def ship(qty: int, tracking: str) -> o.ShipLines:
        return o.ShipLines(order_id=order_id, quantities=[o.LineQty(line_id="l1", qty=qty)], tracking_number=tracking)

    for qty, reason in ((3, "not_released"), (6, "exceeds_line")):  # refused, nothing shipped
        refused = await client.wait_caused_by(await client.send(ship(qty, "T0"), principal=as_seller))
        assert (refused.type, refused.payload["reason"]) == ("CommandRejected", reason)

    first = await client.wait_caused_by(await client.send(ship(2, "T1"), principal=as_seller))
    assert (first.type, first.payload["status"], first.payload["quantities"]) == (
        "LinesShipped", "partially_shipped", [{"line_id": "l1", "qty": 2}])
    _, view, _ = await get(stack, f"/buyers/{buyer}/orders")
    line = view[0]["lines"][0]
    assert (view[0]["status"], line["state"], line["shipped_qty"], line["waiting_qty"]) == (
        "partially_shipped", "partially_shipped", 2, 3)

    receipt = ReceiveStock(receipt_id=uid("rcpt"), sku_id=sku, warehouse_id="wh-1", qty=3)
    await client.send(receipt)
    await event(client, order_id, "LinesReleased")
    last = await client.wait_caused_by(await client.send(ship(3, "T2"), principal=as_seller))
    assert (last.type, last.payload["status"]) == ("LinesShipped", "shipped")

    told = await client.wait_for(lambda o_: o_.type == "NotificationSent" and o_.payload["order_id"] == order_id
                                 and o_.payload["kind"] == "shipped" and o_.payload["channel"] == "app", count=2)
    assert "2 of 5 units" in told[0].payload["message"] and "T1" in told[0].payload["message"]
    assert "T2" in told[1].payload["message"]
    async with aiohttp.ClientSession() as session:
        inventory = stack.services[("inventory", 0)].url
        async with session.get(f"{inventory}/skus/{sku}/stock") as response:
            stock = await response.json()
        async with session.get(f"{inventory}/orders/{order_id}/allocations") as response:
            parts = await response.json()
    assert stock["warehouses"][0]["on_hand"] == 0 and stock["warehouses"][0]["allocated"] == 0
    assert sum(p["qty"] for p in parts if p["state"] == "shipped") == 5
