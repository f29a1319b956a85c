"""Helpers for the orders integration modules (no tests here).

The modules start only the orders service and play catalog and inventory themselves: they
publish those services' events on ``catalog.events`` and ``inventory.events`` and watch
``orders.events``. Time comes from a clock file (``CLOCK=file:...``) the tests move.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp

from devstack.client import Observed, PlatformClient
from devstack.stack import Stack
from shared.contract import catalog as cat
from shared.contract import inventory as inv
from shared.contract import orders as o
from shared.contract.envelope import Envelope, Payload, Principal

__test__ = False  # helpers, not tests

EVENTS = "orders.events"


class ClockFile:
    """The service's clock: an ISO instant in a file, replaced atomically."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def set(self, instant: datetime | str) -> None:
        text = instant.isoformat() if isinstance(instant, datetime) else instant
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(text)
        os.replace(tmp, self.path)

    @property
    def env(self) -> dict[str, str]:
        return {"CLOCK": f"file:{self.path}"}


def orders_url(stack: Stack, instance: int = 0) -> str:
    return stack.services[("orders", instance)].url


async def get_json(url: str) -> Any:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return await response.json()


async def get_page(url: str) -> tuple[Any, str | None]:
    """A list route's body and its ``X-Next-Cursor``."""
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return await response.json(), response.headers.get("X-Next-Cursor")


async def wait_http(url: str, predicate: Callable[[Any], bool], within: float = 30.0) -> Any:
    """Poll a read route until it shows what we wait for (the read model caught up)."""
    deadline = time.monotonic() + within
    async with aiohttp.ClientSession() as session:
        while True:
            async with session.get(url) as response:
                body = await response.json() if response.status == 200 else None
            if body is not None and predicate(body):
                return body
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} never satisfied the condition; last: {body}")
            await asyncio.sleep(0.05)


async def publish(client: PlatformClient, topic: str, payload: Payload, *, key: str,
                  principal: Principal | None = None) -> Envelope[Any]:
    """Publish an event (or a command) as the service that owns the topic would."""
    envelope = client.envelope(payload, principal=principal)
    await client.send_raw(topic, envelope.model_dump_json().encode(), key=key)
    return envelope


async def command(client: PlatformClient, payload: Payload, principal: Principal | None = None) -> Observed:
    """Send an orders command and return the first event it caused."""
    sent = await client.send(payload, principal=principal)
    return await client.wait_caused_by(sent)


def on_order(order_id: str, message_type: str) -> Callable[[Observed], bool]:
    return lambda o_: o_.topic == EVENTS and o_.type == message_type and o_.payload.get("order_id") == order_id


async def event(client: PlatformClient, order_id: str, message_type: str, count: int = 1,
                within: float = 30.0) -> Observed:
    return (await client.wait_for(on_order(order_id, message_type), count=count, timeout=within))[count - 1]


# ---------------------------------------------------------------- playing catalog


async def seller(client: PlatformClient, seller_id: str, region: str = "US", tz: str = "America/New_York") -> None:
    await publish(client, "catalog.events", cat.SellerRegistered(
        seller_id=seller_id, region=region, timezone=tz, backorder_eligible=True), key=seller_id)


async def listing(client: PlatformClient, seller_id: str, listing_id: str, sku_ids: list[str]) -> None:
    await publish(client, "catalog.events", cat.ListingUpserted(
        seller_id=seller_id, listing_id=listing_id, category="home", title="A thing", sku_ids=sku_ids), key=seller_id)


async def activate(client: PlatformClient, seller_id: str, listing_id: str, sku_id: str, days: int,
                   region: str = "US", tz: str = "America/New_York") -> None:
    await publish(client, "catalog.events", cat.BackorderActivated(
        seller_id=seller_id, listing_id=listing_id, sku_id=sku_id, region=region, timezone=tz, handling_days=days,
        backorder_stock=[cat.WarehouseQty(warehouse_id="wh-1", qty=100)]), key=seller_id)


async def sku_known(stack: Stack, sku_id: str, **expected: Any) -> None:
    """Wait until orders' read model has the SKU as the catalog described it."""
    await wait_http(f"{orders_url(stack)}/skus/{sku_id}",
                    lambda body: all(body.get(k) == v for k, v in expected.items()))


# ---------------------------------------------------------------- playing inventory


def part(source: str, qty: int, warehouse_id: str = "wh-1") -> inv.AllocatedPart:
    return inv.AllocatedPart(warehouse_id=warehouse_id, source=source, qty=qty)  # type: ignore[arg-type]


async def allocate(client: PlatformClient, order_id: str, lines: dict[str, tuple[str, list[inv.AllocatedPart]]]
                   ) -> Envelope[Any]:
    """``lines``: line_id -> (sku_id, parts)."""
    return await publish(client, "inventory.events", inv.StockAllocated(order_id=order_id, lines=[
        inv.AllocatedLine(line_id=line_id, sku_id=sku_id, parts=parts) for line_id, (sku_id, parts) in lines.items()
    ]), key=order_id)


async def release(client: PlatformClient, order_id: str, line_id: str, sku_id: str, qty: int,
                  receipt_id: str | None = None) -> Envelope[Any]:
    return await publish(client, "inventory.events", inv.BackorderReleased(
        order_id=order_id, line_id=line_id, sku_id=sku_id, warehouse_id="wh-1", qty=qty,
        receipt_id=receipt_id or f"rcpt-{uuid.uuid4().hex[:8]}"), key=order_id)


def place(order_id: str, lines: list[tuple[str, str, int]], buyer_id: str = "buyer-1") -> o.PlaceOrder:
    return o.PlaceOrder(order_id=order_id, buyer_id=buyer_id, buyer_email=f"{buyer_id}@example.com", region="US",
                        lines=[o.OrderLine(line_id=i, sku_id=s, qty=q) for i, s, q in lines])


def buyer(buyer_id: str = "buyer-1") -> Principal:
    return Principal(kind="buyer", id=buyer_id)


def seller_principal(seller_id: str) -> Principal:
    return Principal(kind="seller", id=seller_id)
