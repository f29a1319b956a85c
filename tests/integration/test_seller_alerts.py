"""R32 through Kafka on the whole platform: a seller's stock alerts count backorder stock too, and reach the
seller as an app message and an email, once (R22), as an uncovered backorder (R29) does.

Catalog, inventory, orders and notifications run as processes, with the SMTP server; the test plays the
seller (catalog and inventory commands) and the buyers (PlaceOrder), and waits for the events they cause and
the mail the SMTP server received.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import aiohttp
import asyncpg
import pytest
from typer.testing import CliRunner

from backorder_cli.main import app as cli
from devstack.client import Observed, PlatformClient
from devstack.smtp import read_mail
from devstack.stack import Stack
from shared.contract.catalog import ActivateBackorder, RegisterSeller, UpsertListing, WarehouseQty
from shared.contract.inventory import (
    AnnounceInbound,
    CancelInbound,
    ChangeInbound,
    LowStock,
    SetStock,
    SetStockPolicy,
)
from shared.contract.orders import OrderLine, PlaceOrder

pytestmark = pytest.mark.integration

INVENTORY, NOTIFICATIONS = "inventory.events", "notifications.events"


@pytest.fixture(scope="module", autouse=True)
def platform(stack: Stack) -> Iterator[Stack]:
    stack.start_all()
    yield stack


class Seller:
    """A seller with an email address and one SKU in wh-1, and its buyers' orders."""

    def __init__(self, client: PlatformClient, stack: Stack) -> None:
        run = uuid.uuid4().hex[:8]
        self.client, self.stack, self.seller, self.sku = client, stack, f"seller-{run}", f"sku-{run}"
        self.email = f"{self.seller}@seller.example"

    async def start(self, *, backorder: int = 0, regular: int = 0, threshold: int | None = None) -> Seller:
        await self.client.send(RegisterSeller(seller_id=self.seller, region="US", backorder_eligible=True,
                                              email=self.email))
        await self.client.send(UpsertListing(seller_id=self.seller, listing_id=f"l-{self.sku}", category="home",
                                             title="Walnut desk lamp", sku_ids=[self.sku]))
        if backorder:
            await self.activate(backorder)
        if regular:
            await self.client.send(SetStock(sku_id=self.sku, warehouse_id="wh-1", on_hand=regular))
            await self.client.wait_type(INVENTORY, "StockChanged", sku_id=self.sku, on_hand=regular)
        if threshold is not None:
            policy = await self.client.send(SetStockPolicy(sku_id=self.sku, low_stock_threshold=threshold))
            await self.client.wait_caused_by(policy)
        return self

    async def activate(self, qty: int) -> None:
        """Backorder stock of ``qty`` more units in wh-1."""
        sent = await self.client.send(ActivateBackorder(
            seller_id=self.seller, sku_id=self.sku, handling_days=5,
            backorder_stock=[WarehouseQty(warehouse_id="wh-1", qty=qty)]))
        # inventory's answer to this activation (its flow's correlation id), not an earlier StockChanged that
        # happens to show as many units to sell: an order placed before the activation is applied is refused
        await self.client.wait_for(lambda o: o.type == "StockChanged" and o.payload["sku_id"] == self.sku
                                   and o.value.get("correlation_id") == str(sent.correlation_id)
                                   and o.payload["backorder_limit"] - o.payload["backorder_allocated"] == qty)

    async def order(self, qty: int) -> tuple[str, Observed]:
        """A buyer orders ``qty`` units; the order id and what orders decided (accepted or rejected)."""
        order_id, buyer = f"order-{uuid.uuid4().hex[:10]}", f"buyer-{uuid.uuid4().hex[:8]}"
        await self.client.send(PlaceOrder(order_id=order_id, buyer_id=buyer, buyer_email=f"{buyer}@example.com",
                                          region="US", lines=[OrderLine(line_id="line-1", sku_id=self.sku, qty=qty)]))
        (decided,) = await self.client.wait_for(lambda o: o.type in ("OrderAccepted", "OrderRejected")
                                                and o.payload["order_id"] == order_id)
        return order_id, decided

    async def inventory_settled(self) -> None:
        """Wait until inventory has sent everything the SKU's earlier messages caused: a command on the same key
        (the SKU, so the same partition, after them) that changes nothing is refused on the SKU's partition of
        inventory.events, after them."""
        marker = await self.client.send(ChangeInbound(inbound_id=f"no-such-{self.sku}", sku_id=self.sku, qty=1))
        refused = await self.client.wait_caused_by(marker)
        assert (refused.type, refused.payload["reason"]) == ("CommandRejected", "unknown_inbound")

    async def notifications_settled(self, marker: Seller) -> None:
        """Wait until notifications has handled every message sent so far on this SKU's partition of
        inventory.events: an alert for ``marker``'s SKU on the same key comes back through the same consumer."""
        alert = self.client.envelope(LowStock(sku_id=marker.sku, seller_id=marker.seller, available_to_promise=0,
                                              backorder=0, total_available=0, threshold=1))
        await self.client.send_raw(INVENTORY, alert.model_dump_json().encode(), key=self.sku)
        await self.client.wait_for(lambda o: o.type == "NotificationSent" and o.value.get("causation_id")
                                   == str(alert.event_id) and o.payload["channel"] == "app")

    def alerts(self, message_type: str) -> list[Observed]:
        return self.client.matching(lambda o: o.type == message_type and o.payload["sku_id"] == self.sku)

    async def told(self, kind: str, count: int = 2) -> list[Observed]:
        """The seller's ``NotificationSent`` of a kind: app and email, once each per alert."""
        return await self.client.wait_type(NOTIFICATIONS, "NotificationSent", seller_id=self.seller, kind=kind,
                                           count=count)

    def mails(self, kind: str) -> list[EmailMessage]:
        return [m for m in read_mail(self.stack.mail_dir)
                if m["To"] == self.email and m["X-Notification-Kind"] == kind]


async def seller_of(client: PlatformClient, stack: Stack, **start: Any) -> Seller:
    return await Seller(client, stack).start(**start)


async def wait_mails(seller: Seller, kind: str, count: int = 1, within_s: float = 30) -> list[EmailMessage]:
    deadline = time.monotonic() + within_s
    while True:
        found = seller.mails(kind)
        if len(found) >= count or time.monotonic() > deadline:
            assert len(found) == count, f"{len(found)} mails instead of {count}"
            return found
        await asyncio.sleep(0.05)


def text_of(mail: EmailMessage) -> str:
    return mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]


async def test_r32_threshold_counts_backorder_stock(client: PlatformClient, stack: Stack) -> None:
    # 2 in stock is below the threshold of 4; with 3 on back order the seller has 5 to sell: no alert yet
    seller = await seller_of(client, stack, backorder=3, regular=2, threshold=4)

    _, accepted = await seller.order(2)  # 5 -> 3 to sell: below
    assert accepted.type == "OrderAccepted"
    await client.wait_type(INVENTORY, "LowStock", sku_id=seller.sku)
    await seller.order(1)  # 3 -> 2: still below, no second alert
    await seller.inventory_settled()

    assert [a.payload for a in seller.alerts("LowStock")] == [{
        "sku_id": seller.sku, "seller_id": seller.seller, "warehouse_id": None, "available_to_promise": 0,
        "backorder": 3, "total_available": 3, "threshold": 4}]


async def test_r32_alert_when_backorder_stock_runs_out_once_per_crossing(client: PlatformClient,
                                                                         stack: Stack) -> None:
    seller = await seller_of(client, stack, backorder=2)

    await seller.order(1)
    _, last = await seller.order(1)  # the last backorder unit
    assert last.type == "OrderAccepted"
    (alert,) = await client.wait_type(INVENTORY, "BackorderStockExhausted", sku_id=seller.sku)
    assert (alert.payload["seller_id"], alert.payload["backorder_allocated"]) == (seller.seller, 2)
    _, rejected = await seller.order(1)  # out of stock: still out, no second alert
    assert rejected.type == "OrderRejected"
    policy = await client.send(SetStockPolicy(sku_id=seller.sku, safety_stock=0))  # the SKU looked at again
    await client.wait_caused_by(policy)

    await seller.activate(1)  # backorder stock added: the alert is armed again
    await seller.order(1)  # and runs out again
    await client.wait_type(INVENTORY, "BackorderStockExhausted", sku_id=seller.sku, count=2)
    await seller.activate(1)  # a marker behind them on the SKU's partition: every alert before it has arrived

    assert len(seller.alerts("BackorderStockExhausted")) == 2
    await seller.told("backorder_exhausted", count=4)  # each alert reached the seller in the app and by email
    await wait_mails(seller, "backorder_exhausted", count=2)


async def test_r32_seller_gets_app_and_email_alert_once(client: PlatformClient, stack: Stack) -> None:
    seller = await seller_of(client, stack, regular=3, threshold=2)
    await seller.order(2)

    sent = {o.payload["channel"]: o for o in await seller.told("low_stock")}
    (mail,) = await wait_mails(seller, "low_stock")
    for event in sent.values():
        assert (event.key, event.payload["sku_id"], event.payload["buyer_id"]) == (seller.seller, seller.sku, None)
    assert sent["app"].payload["message"].startswith(
        f"Low stock: {seller.sku} has 1 unit left to sell (1 in stock, 0 on back order)")
    assert mail["Message-ID"] == f"<{sent['email'].payload['notification_id']}@shop.example>"
    assert "Total available: 1 (threshold 2)" in text_of(mail)
    inbox = await http_json(stack, f"/sellers/{seller.seller}/notifications?channel=app")
    assert [(n["kind"], n["sku_id"]) for n in inbox] == [("low_stock", seller.sku)]
    shown = await asyncio.to_thread(CliRunner().invoke, cli, ["notifications", "--seller", seller.seller], env={
        "BACKORDER_STATE": "/nonexistent", "COLUMNS": "250",
        "BACKORDER_NOTIFICATIONS_URL": stack.services[("notifications", 0)].url,
    }, terminal_width=250)
    assert shown.exit_code == 0, shown.output
    rows = [line.split("│") for line in shown.output.splitlines() if seller.seller in line]
    assert sorted((row[5].strip(), row[6].strip()) for row in rows) == [("app", "low_stock"), ("email", "low_stock")]

    # the alert delivered again (a relay resending it), and the whole topic replayed by a new consumer group
    (alert,) = seller.alerts("LowStock")
    await client.send_raw(INVENTORY, json.dumps(alert.value).encode(), key=seller.sku)
    stack.start_service("notifications", instance=1, extra_env={"CONSUMER_GROUP_SUFFIX": "-replay"})
    stack.wait_ready()
    try:
        await replayed(stack, str(alert.value["event_id"]))
    finally:
        stack.stop_service("notifications", instance=1)
    await seller.order(1)  # stock moved again, no new crossing
    await seller.inventory_settled()
    await seller.notifications_settled(await seller_of(client, stack))

    assert len({a.value["event_id"] for a in seller.alerts("LowStock")}) == 1  # the copy we sent is the same alert
    assert len(client.matching(lambda o: o.type == "NotificationSent" and o.payload["seller_id"] == seller.seller)) \
        == 2
    assert len(seller.mails("low_stock")) == 1


async def test_r32_uncovered_part_reaches_seller(client: PlatformClient, stack: Stack) -> None:
    seller = await seller_of(client, stack, backorder=50)
    order_id, accepted = await seller.order(2)
    ship_by = accepted.payload["lines"][0]["parts"][0]["ship_by"]
    po = f"po-{uuid.uuid4().hex[:8]}"
    await client.send(AnnounceInbound(inbound_id=po, sku_id=seller.sku, warehouse_id="wh-1", qty=2,
                                      expected_on=datetime.now(UTC).date() + timedelta(days=1)))
    await client.wait_type(INVENTORY, "BackorderProjected", sku_id=seller.sku)

    await client.send(CancelInbound(inbound_id=po, sku_id=seller.sku))

    await client.wait_type("orders.events", "BackorderUncovered", order_id=order_id)
    sent = {o.payload["channel"]: o for o in await seller.told("backorder_uncovered")}
    for event in sent.values():
        assert (event.payload["order_id"], event.payload["buyer_id"], event.payload["line_ids"]) == (
            order_id, None, ["line-1"])
    assert "wh-1" in sent["app"].payload["message"]
    (mail,) = await wait_mails(seller, "backorder_uncovered")
    assert mail["X-Order-Id"] == order_id and order_id in mail["Subject"]
    assert "No inbound stock you announced covers a backordered line" in text_of(mail)
    assert ship_by in mail.get_body(("html",)).get_content()  # type: ignore[union-attr]
    # the buyer is not told of it
    assert not [m for m in read_mail(stack.mail_dir)
                if m["X-Order-Id"] == order_id and m["X-Notification-Kind"] == "backorder_uncovered"
                and m["To"] != seller.email]


async def http_json(stack: Stack, path: str) -> Any:
    url = stack.services[("notifications", 0)].url + path
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def replayed(stack: Stack, event_id: str, within_s: float = 60) -> None:
    """Wait until the replay group has handled the message ``event_id``."""
    deadline = time.monotonic() + within_s
    conn = await asyncpg.connect(stack.dsn("notifications"))
    try:
        while not await conn.fetchval("SELECT count(*) FROM inbox WHERE consumer = 'notifications-replay' "
                                      "AND message_id = $1", event_id):
            assert time.monotonic() < deadline, "the replay group did not reach the alert"
            await asyncio.sleep(0.1)
    finally:
        await conn.close()
