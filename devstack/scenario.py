"""The walking skeleton: the whole backorder happy path through Kafka only.

Used by ``make demo``, ``make run`` and the integration test, so all three prove the same
thing. Each step publishes a command and waits for the event that proves it happened.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiohttp

from devstack.client import Observed, PlatformClient
from devstack.smtp import read_mail
from shared.contract.catalog import ActivateBackorder, RegisterSeller, UpsertListing, WarehouseQty
from shared.contract.envelope import Principal
from shared.contract.inventory import AnnounceInbound, ChangeInbound, ReceiveStock, SetStock
from shared.contract.notifications import MarkNotificationsRead
from shared.contract.orders import OrderLine, PlaceOrder, ShipLines


@dataclass
class Step:
    name: str
    topic: str
    event: str
    detail: str
    at_ms: float


@dataclass
class ScenarioResult:
    steps: list[Step] = field(default_factory=list)
    failure: str | None = None
    ids: dict[str, str] = field(default_factory=dict)
    email: EmailMessage | None = None

    @property
    def ok(self) -> bool:
        return self.failure is None


class Scenario:
    """One run with fresh ids, so it can run against a platform that already has data."""

    def __init__(self, client: PlatformClient, mail_dir: Path, timeout: float = 30.0,
                 inventory_url: str | None = None) -> None:
        self.client = client
        self.mail_dir = mail_dir
        self.timeout = timeout
        #: where to ask the buyer's promise (R24) before the backordered order; no quote step without it
        self.inventory_url = inventory_url
        self.quote: dict[str, Any] | None = None
        run = uuid.uuid4().hex[:6]
        self.ids = {
            "seller": f"seller-{run}", "listing": f"listing-{run}", "sku": f"sku-{run}", "warehouse": "wh-1",
            "order_regular": f"order-{run}-a", "order_backorder": f"order-{run}-b", "buyer": f"buyer-{run}",
        }
        self.result = ScenarioResult(ids=self.ids)
        self._started = time.monotonic()

    def _step(self, name: str, seen: Observed, detail: str) -> None:
        self.result.steps.append(Step(name, seen.topic, seen.type, detail, (seen.received_at - self._started) * 1000))

    async def _expect(self, name: str, topic: str, event: str, describe: Callable[[dict[str, Any]], str],
                      **fields: Any) -> Observed:
        seen = (await self.client.wait_type(topic, event, timeout=self.timeout, **fields))[0]
        self._step(name, seen, describe(seen.payload))
        return seen

    async def run(self) -> ScenarioResult:
        steps: list[Callable[[], Awaitable[None]]] = [
            self.register_seller, self.activate_backorder, self.set_regular_stock, self.place_orders,
            self.notify_buyer, self.buyer_reads_message, self.delayed_inbound, self.restock, self.ship,
        ]
        try:
            for step in steps:
                await step()
        except TimeoutError as exc:
            self.result.failure = f"step {len(self.result.steps) + 1} not observed: {exc}"
        return self.result

    async def register_seller(self) -> None:
        i = self.ids
        await self.client.send(RegisterSeller(seller_id=i["seller"], region="US", backorder_eligible=True))
        await self._expect("seller registered, eligible", "catalog.events", "SellerRegistered",
                           lambda p: f"{p['seller_id']} region {p['region']}", seller_id=i["seller"])
        await self.client.send(UpsertListing(seller_id=i["seller"], listing_id=i["listing"], category="home",
                                             title="Walnut desk lamp", sku_ids=[i["sku"]]))
        await self._expect("listing with one SKU", "catalog.events", "ListingUpserted",
                           lambda p: f"{p['listing_id']}: {p['sku_ids']}", listing_id=i["listing"])

    async def activate_backorder(self) -> None:
        i = self.ids
        await self.client.send(ActivateBackorder(
            seller_id=i["seller"], sku_id=i["sku"], handling_days=5,
            backorder_stock=[WarehouseQty(warehouse_id=i["warehouse"], qty=10)],
        ))
        await self._expect("backorder activated", "catalog.events", "BackorderActivated",
                           lambda p: f"{p['sku_id']} handling {p['handling_days']} business days", sku_id=i["sku"])
        await self._expect("inventory: backorder stock", "inventory.events", "StockChanged",
                           lambda p: f"{p['warehouse_id']} backorder {p['backorder_limit']}",
                           sku_id=i["sku"], backorder_limit=10)

    async def set_regular_stock(self) -> None:
        i = self.ids
        await self.client.send(SetStock(sku_id=i["sku"], warehouse_id=i["warehouse"], on_hand=1))
        await self._expect("regular stock set to 1", "inventory.events", "StockChanged",
                           lambda p: f"on hand {p['on_hand']}, total {p['total']}", sku_id=i["sku"], on_hand=1)

    async def place_orders(self) -> None:
        i = self.ids
        for key, source in (("order_regular", "regular"), ("order_backorder", "backorder")):
            if source == "backorder" and self.inventory_url:
                await self.quote_promise()
            await self.client.send(PlaceOrder(
                order_id=i[key], buyer_id=i["buyer"], buyer_email=f"{i['buyer']}@example.com", region="US",
                lines=[OrderLine(line_id="line-1", sku_id=i["sku"], qty=1)],
            ))
            await self._expect(f"inventory allocates from {source}", "inventory.events", "StockAllocated",
                               lambda p: ", ".join(f"{x['source']} x{x['qty']}" for x in p["lines"][0]["parts"]),
                               order_id=i[key])
            accepted = await self._expect(f"order accepted ({source})", "orders.events", "OrderAccepted",
                                          _describe_acceptance, order_id=i[key])
            parts = accepted.payload["lines"][0]["parts"]
            if [p["source"] for p in parts] != [source]:
                raise TimeoutError(f"{i[key]} was filled from {parts}, expected {source}")
            if source == "backorder" and self.quote is not None and _dated(parts) != _dated(self.quote["parts"]):
                raise TimeoutError(f"{i[key]} was accepted with {_dated(parts)}, quoted {_dated(self.quote['parts'])}")
        backordered = self.client.matching(
            lambda o: o.type == "OrderAccepted" and o.payload.get("order_id") == i["order_backorder"])[0]
        if backordered.payload["status"] != "awaiting_shipment" or "back_order" not in backordered.payload["tags"]:
            raise TimeoutError(f"backordered order is {backordered.payload['status']} {backordered.payload['tags']}")

    async def quote_promise(self) -> None:
        """A product page asks the promise (R24) before the buyer orders: on back order, with the dates
        the order is then accepted with."""
        i = self.ids
        url = f"{self.inventory_url}/skus/{i['sku']}/promise"
        async with aiohttp.ClientSession() as session, session.get(url, params={"qty": "1", "region": "US"}) as resp:
            quote = await resp.json()
        if resp.status != 200 or quote["label"] != "on_back_order":
            raise TimeoutError(f"the promise of {i['sku']} is {resp.status} {quote}")
        self.quote = quote
        self.result.steps.append(Step(
            "promise quoted before ordering", "inventory HTTP", "GET /skus/{sku}/promise",
            f"{quote['label']}: ship by {quote['ship_by']}, delivery {quote['estimated_delivery']}",
            (time.monotonic() - self._started) * 1000))

    async def notify_buyer(self) -> None:
        i = self.ids
        for channel in ("app", "email"):
            await self._expect(f"buyer told ({channel})", "notifications.events", "NotificationSent",
                               lambda p: f"{p['kind']}: ship by {p['ship_by']}, delivery {p['estimated_delivery']}",
                               order_id=i["order_backorder"], channel=channel, kind="backorder_accepted")
        self.result.email = _find_email(self.mail_dir, i["order_backorder"])
        if self.result.email is None:
            raise TimeoutError("no email for the backordered order reached the SMTP server")

    async def buyer_reads_message(self) -> None:
        """The buyer opens the app message; the app marks it read (the inbox's unread count drops)."""
        i = self.ids
        (app,) = self.client.matching(lambda o: o.type == "NotificationSent" and o.payload.get("channel") == "app"
                                      and o.payload.get("order_id") == i["order_backorder"])
        await self.client.send(MarkNotificationsRead(buyer_id=i["buyer"],
                                                     notification_ids=[uuid.UUID(app.payload["notification_id"])]),
                               principal=Principal(kind="buyer", id=i["buyer"]))
        await self._expect("buyer read the app message", "notifications.events", "NotificationsRead",
                           lambda p: f"{len(p['notification_ids'])} read, {p['unread']} unread", buyer_id=i["buyer"])

    async def delayed_inbound(self) -> None:
        """The seller announces the purchase order the backorder waits for (R28), then it is late: the line
        is re-dated and the buyer told, once (R29)."""
        i = self.ids
        accepted = self.client.matching(
            lambda o: o.type == "OrderAccepted" and o.payload.get("order_id") == i["order_backorder"])[0]
        ship_by = date.fromisoformat(accepted.payload["lines"][0]["parts"][0]["ship_by"])
        on_time = max(ship_by - timedelta(days=1), datetime.now(UTC).date())
        await self.client.send(AnnounceInbound(inbound_id=f"po-{i['sku']}", sku_id=i["sku"],
                                               warehouse_id=i["warehouse"], qty=1, expected_on=on_time))
        await self._expect("inbound announced, backorder projected", "inventory.events", "BackorderProjected",
                           lambda p: f"{p['parts'][0]['order_id']} on {p['parts'][0]['projected_on']}", sku_id=i["sku"])
        await self.client.send(ChangeInbound(inbound_id=f"po-{i['sku']}", sku_id=i["sku"],
                                             expected_on=ship_by + timedelta(days=7)))
        await self._expect("inbound late: line re-dated", "orders.events", "BackorderDelayed",
                           lambda p: f"ship by {p['ship_by']} (was {p['previous_ship_by']}), {p['reason']}",
                           order_id=i["order_backorder"], reason="inbound_late")
        await self._expect("buyer told of the delay (email)", "notifications.events", "NotificationSent",
                           lambda p: f"{p['kind']}: ship by {p['ship_by']}", order_id=i["order_backorder"],
                           channel="email", kind="delayed")

    async def restock(self) -> None:
        i = self.ids
        await self.client.send(ReceiveStock(receipt_id=f"receipt-{i['sku']}", sku_id=i["sku"],
                                            warehouse_id=i["warehouse"], qty=1, inbound_id=f"po-{i['sku']}"))
        await self._expect("restock releases the backorder", "inventory.events", "BackorderReleased",
                           lambda p: f"{p['order_id']} x{p['qty']}", order_id=i["order_backorder"])
        await self._expect("order released for shipping", "orders.events", "LinesReleased",
                           lambda p: f"{[x['line_id'] for x in p['lines']]}", order_id=i["order_backorder"])

    async def ship(self) -> None:
        i = self.ids
        await self.client.send(ShipLines(order_id=i["order_backorder"], line_ids=["line-1"], tracking_number="TRACK-1"))
        await self._expect("backordered order shipped", "orders.events", "LinesShipped",
                           lambda p: f"status {p['status']}", order_id=i["order_backorder"], status="shipped")


def _dated(parts: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(p["source"], p["qty"], str(p["ship_by"]), str(p["estimated_delivery"])) for p in parts]


def _describe_acceptance(payload: dict[str, Any]) -> str:
    part = payload["lines"][0]["parts"][0]
    tags = ",".join(payload["tags"]) or "-"
    return f"{payload['status']} [{tags}] ship by {part['ship_by']}, delivery {part['estimated_delivery']}"


def _find_email(mail_dir: Path, order_id: str, timeout: float = 10.0) -> EmailMessage | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for message in read_mail(mail_dir):
            if order_id in str(message.get("X-Order-Id", "")) or order_id in str(message.get("Subject", "")):
                return message
        time.sleep(0.1)
    return None
