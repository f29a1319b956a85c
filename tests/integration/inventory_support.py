"""Plays catalog and orders for the inventory service: publishes their events on
``catalog.events`` (keyed by seller) and ``orders.events`` (keyed by order), sends
inventory commands, and reads the service's events and HTTP routes.

Every helper waits for the service's answer to what it sent (events carry the
``causation_id`` of the message that caused them); nothing sleeps.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp

from devstack.client import Observed, PlatformClient
from devstack.stack import Stack
from shared.contract import catalog as cat
from shared.contract import orders as o
from shared.contract.envelope import Envelope, Payload, Principal
from shared.contract.inventory import SetStock

EVENTS = "inventory.events"
OUTCOMES = ("StockAllocated", "AllocationRejected")
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


Line = tuple[str, int] | tuple[str, str, int]
"""An order line: ``(sku, qty)`` or ``(line_id, sku, qty)``."""


def order_line(number: int, line: Line) -> o.OrderLine:
    if len(line) == 2:
        return o.OrderLine(line_id=f"l{number}", sku_id=line[0], qty=line[1])
    return o.OrderLine(line_id=line[0], sku_id=line[1], qty=line[2])


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def parts_of(allocated: Observed, line_id: str = "l1") -> list[tuple[str, str, int]]:
    """(warehouse, source, qty) of one line of a ``StockAllocated``."""
    line = next(x for x in allocated.payload["lines"] if x["line_id"] == line_id)
    return [(p["warehouse_id"], p["source"], p["qty"]) for p in line["parts"]]


@dataclass
class Inventory:
    client: PlatformClient
    stack: Stack
    seller_id: str = field(default_factory=lambda: uid("seller"))
    _clock: int = 0

    # ------------------------------------------------------------------ HTTP

    def url(self, instance: int = 0) -> str:
        return self.stack.services[("inventory", instance)].url

    async def get(self, path: str, instance: int = 0) -> Any:
        async with aiohttp.ClientSession() as session, session.get(self.url(instance) + path) as response:
            assert response.status == 200, await response.text()
            return await response.json()

    async def stock(self, sku_id: str) -> dict[str, Any]:
        body: dict[str, Any] = await self.get(f"/skus/{sku_id}/stock")
        body["by_warehouse"] = {w["warehouse_id"]: w for w in body["warehouses"]}
        return body

    async def ledger(self, sku_id: str) -> list[dict[str, Any]]:
        """Ledger rows of a SKU, oldest first."""
        return list(reversed(await self.get(f"/skus/{sku_id}/ledger?limit=10000")))

    async def allocations(self, order_id: str) -> list[dict[str, Any]]:
        return list(await self.get(f"/orders/{order_id}/allocations"))

    async def audit(self) -> dict[str, Any]:
        return dict(await self.get("/audit/ledger"))

    # ------------------------------------------------------------------ publish

    async def publish(self, topic: str, payload: Payload, key: str) -> Envelope[Any]:
        envelope = self.client.envelope(payload)
        await self.client.send_raw(topic, envelope.model_dump_json().encode(), key=key)
        return envelope

    async def caused(self, envelope: Envelope[Any], message_type: str | None = None, count: int = 1,
                     within: float = 30.0) -> list[Observed]:
        """The inventory events caused by ``envelope`` (at least ``count`` of them)."""
        def caused_by(obs: Observed) -> bool:
            return (obs.topic == EVENTS and obs.value.get("causation_id") == str(envelope.event_id)
                    and (message_type is None or obs.type == message_type))

        return await self.client.wait_for(caused_by, count=count, timeout=within)

    async def command(self, payload: Payload, *, principal: Principal | None = None, expect: int = 1,
                      message_type: str | None = None) -> list[Observed]:
        """Send an inventory command; return the ``expect`` events it caused."""
        envelope = await self.client.send(payload, principal=principal)
        return await self.caused(envelope, message_type, count=expect) if expect else []

    # ------------------------------------------------------------------ playing catalog

    async def listing(self, *sku_ids: str, seller_id: str | None = None) -> Envelope[Any]:
        seller = seller_id or self.seller_id
        return await self.publish("catalog.events", cat.ListingUpserted(
            seller_id=seller, listing_id=uid("listing"), category="home", title="Walnut lamp", sku_ids=list(sku_ids)),
            key=seller)

    async def activate(self, sku_id: str, backorder: Mapping[str, int], *, seller_id: str | None = None,
                       levels: int | None = None) -> list[Observed]:
        """``BackorderActivated``; waits for a ``StockChanged`` per level of the SKU (``levels``,
        default: one per warehouse named)."""
        seller = seller_id or self.seller_id
        envelope = await self.publish("catalog.events", cat.BackorderActivated(
            seller_id=seller, listing_id="listing", sku_id=sku_id, region="US", timezone="America/New_York",
            handling_days=5, backorder_stock=[cat.WarehouseQty(warehouse_id=w, qty=q) for w, q in backorder.items()]),
            key=seller)
        return await self.caused(envelope, "StockChanged", count=levels or len(backorder))

    async def deactivate(self, sku_id: str, *, levels: int = 1) -> list[Observed]:
        envelope = await self.publish("catalog.events", cat.BackorderDeactivated(
            seller_id=self.seller_id, listing_id="listing", sku_id=sku_id), key=self.seller_id)
        return await self.caused(envelope, "StockChanged", count=levels)

    async def sku(self, *, regular: Mapping[str, int] | None = None, backorder: Mapping[str, int] | None = None,
                  sku_id: str | None = None) -> str:
        """A listed SKU of this seller with regular stock (a count per warehouse) and, if any,
        backorder stock (activated)."""
        sku = sku_id or uid("sku")
        await self.listing(sku)
        if backorder:
            await self.activate(sku, backorder)  # same key as the listing: handled after it
        for warehouse, qty in (regular or {}).items():
            await self.count(sku, warehouse, qty)
        return sku

    async def count(self, sku_id: str, warehouse_id: str, on_hand: int) -> list[Observed]:
        return await self.command(SetStock(sku_id=sku_id, warehouse_id=warehouse_id, on_hand=on_hand),
                                  message_type="StockChanged")

    # ------------------------------------------------------------------ playing orders

    def next_placed_at(self) -> datetime:
        self._clock += 1
        return T0 + timedelta(seconds=self._clock)

    def order(self, lines: Sequence[Line], *, order_id: str | None = None,
              placed_at: datetime | None = None) -> o.OrderPlaced:
        """An ``OrderPlaced`` of ``(sku, qty)`` lines (ids l1, l2, ...) or ``(line_id, sku, qty)`` lines."""
        buyer = uid("buyer")
        return o.OrderPlaced(order_id=order_id or uid("order"), buyer_id=buyer, buyer_email=f"{buyer}@example.com",
                             region="US", placed_at=placed_at or self.next_placed_at(),
                             lines=[order_line(n, line) for n, line in enumerate(lines, start=1)])

    async def send_order(self, order: o.OrderPlaced) -> Envelope[Any]:
        return await self.publish("orders.events", order, key=order.order_id)

    async def outcome(self, order_id: str, within: float = 30.0) -> Observed:
        found = await self.client.wait_for(
            lambda obs: obs.topic == EVENTS and obs.type in OUTCOMES and obs.payload.get("order_id") == order_id,
            timeout=within)
        return found[0]

    async def place(self, lines: Sequence[Line], *,
                    order_id: str | None = None, placed_at: datetime | None = None) -> Observed:
        """Place an order and return inventory's decision (``StockAllocated`` or ``AllocationRejected``)."""
        order = self.order(lines, order_id=order_id, placed_at=placed_at)
        await self.send_order(order)
        return await self.outcome(order.order_id)

    async def cancel(self, order_id: str, line_ids: Sequence[str], *, expect: int = 1) -> list[Observed]:
        envelope = await self.publish("orders.events", o.LinesCancelled(
            order_id=order_id, buyer_id="buyer", lines=[o.CancelledLine(line_id=x, sku_id="sku") for x in line_ids],
            reason="buyer_request", status="cancelled"), key=order_id)
        return await self.caused(envelope, count=expect) if expect else []

    async def ship(self, order_id: str, line_ids: Sequence[str], *, expect: int = 1) -> list[Observed]:
        envelope = await self.publish("orders.events", o.LinesShipped(
            order_id=order_id, buyer_id="buyer", line_ids=list(line_ids), tracking_number="1Z999",
            status="shipped"), key=order_id)
        return await self.caused(envelope, count=expect) if expect else []
