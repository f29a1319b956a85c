"""R06a: a seller can never change another seller's listings, stock or orders.

Every command that names a seller or acts on a seller's resource, on catalog, inventory and orders, is
sent by seller A (the envelope's ``principal`` is ``{"kind": "seller", "id": A}``, as the platform
gateway sets it from the authenticated caller, see ``docs/security.md``) against what belongs to seller
B. Each must be answered by one ``CommandRejected`` (``not_owner``, or ``not_authorized`` for what only
the platform may do, ``forbidden`` for what sellers never do) and leave B's listings, SKU, stock, ledger
and orders exactly as they were, as the services' read routes show them. The counterpart proves the
probes can see a change: B itself, with the same kind of command, changes them.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from devstack.client import PlatformClient
from devstack.stack import Stack
from shared.contract import catalog as c
from shared.contract import inventory as inv
from shared.contract import orders as o
from shared.contract.envelope import Payload, Principal
from tests.faults import harness as h

pytestmark = [pytest.mark.integration, pytest.mark.faults]


@dataclass
class World:
    stack: Stack
    client: PlatformClient
    a: str
    b: str
    listing_a: str
    listing_b: str
    sku_a: str
    sku_b1: str  # on backorder, with stock
    sku_b2: str  # regular
    order: str  # B's line l1, accepted
    shipped: str  # B's line l1, shipped with tracking "T-B"

    def as_seller(self, seller: str) -> Principal:
        return Principal(kind="seller", id=seller)

    async def views(self) -> dict[str, Any]:
        """Everything of B's the read routes show."""
        stack = self.stack
        urls = {
            "listings": f"{stack.services[('catalog', 0)].url}/sellers/{self.b}/listings",
            "sku_b1": f"{stack.services[('catalog', 0)].url}/skus/{self.sku_b1}",
            "sku_b2": f"{stack.services[('catalog', 0)].url}/skus/{self.sku_b2}",
            "stock_b1": f"{stack.services[('inventory', 0)].url}/skus/{self.sku_b1}/stock",
            "stock_b2": f"{stack.services[('inventory', 0)].url}/skus/{self.sku_b2}/stock",
            "ledger_b1": f"{stack.services[('inventory', 0)].url}/skus/{self.sku_b1}/ledger?limit=1000",
            "order": f"{stack.services[('orders', 0)].url}/orders/{self.order}",
            "shipped": f"{stack.services[('orders', 0)].url}/orders/{self.shipped}",
            "seller_b": f"{stack.services[('orders', 0)].url}/sellers/{self.b}/orders",
        }
        found = {}
        for name, url in urls.items():
            status, body = await h.http_json(url)
            found[name] = (status, body)
        return found


@pytest.fixture(scope="module")
async def world(platform: Stack, platform_client: PlatformClient) -> World:
    client, run = platform_client, uuid.uuid4().hex[:6]
    w = World(platform, client, a=f"seller-a-{run}", b=f"seller-b-{run}", listing_a=f"listing-a-{run}",
              listing_b=f"listing-b-{run}", sku_a=f"sku-a-{run}", sku_b1=f"sku-b1-{run}", sku_b2=f"sku-b2-{run}",
              order=f"o-auth-{run}-1", shipped=f"o-auth-{run}-2")
    for seller in (w.a, w.b):
        await client.send(c.RegisterSeller(seller_id=seller, region="US", backorder_eligible=True))
    await client.send(c.UpsertListing(seller_id=w.a, listing_id=w.listing_a, category="home", title="A's lamp",
                                      sku_ids=[w.sku_a]), principal=w.as_seller(w.a))
    await client.send(c.UpsertListing(seller_id=w.b, listing_id=w.listing_b, category="home", title="B's lamp",
                                      sku_ids=[w.sku_b1, w.sku_b2]), principal=w.as_seller(w.b))
    await client.send(c.ActivateBackorder(seller_id=w.b, sku_id=w.sku_b1, handling_days=5,
                                          backorder_stock=[c.WarehouseQty(warehouse_id="wh-1", qty=10)]),
                      principal=w.as_seller(w.b))
    # inventory knows B owns the SKU once it has the catalog's events (the listing comes before the activation)
    await client.wait_type("inventory.events", "StockChanged", sku_id=w.sku_b1, backorder_limit=10)
    await client.send(inv.SetStock(sku_id=w.sku_b1, warehouse_id="wh-1", on_hand=5), principal=w.as_seller(w.b))
    await client.wait_type("inventory.events", "StockChanged", sku_id=w.sku_b1, on_hand=5)

    async def orders_knows_b1() -> bool:
        status, body = await h.http_json(f"{platform.services[('orders', 0)].url}/skus/{w.sku_b1}")
        return status == 200 and body.get("seller_id") == w.b and body.get("handling_days") == 5

    await h.poll(orders_knows_b1, "orders to know B's SKU", 30.0)
    for order_id in (w.order, w.shipped):
        await client.send(o.PlaceOrder(order_id=order_id, buyer_id=f"buyer-{run}", region="US",
                                       buyer_email=f"buyer-{run}@example.com",
                                       lines=[o.OrderLine(line_id="l1", sku_id=w.sku_b1, qty=1)]))
        await client.wait_type("orders.events", "OrderAccepted", order_id=order_id)
    await client.send(o.ShipLines(order_id=w.shipped, line_ids=["l1"], tracking_number="T-B"),
                      principal=w.as_seller(w.b))
    await client.wait_type("orders.events", "LinesShipped", order_id=w.shipped)
    # and inventory has taken the shipped unit off the shelf: nothing of B's moves any more by itself
    await client.wait_type("inventory.events", "StockChanged", sku_id=w.sku_b1, on_hand=4)
    return w


#: (case, command of seller A against B's things, reasons accepted)
CASES: list[tuple[str, Callable[[World], Payload], set[str]]] = [
    ("register_or_update_another_seller", lambda w: c.RegisterSeller(seller_id=w.b, region="DE",
                                                                      backorder_eligible=False), {"not_authorized"}),
    ("change_another_sellers_eligibility", lambda w: c.SetSellerEligibility(seller_id=w.b, backorder_eligible=False),
     {"not_authorized"}),
    ("upsert_a_listing_in_another_sellers_name", lambda w: c.UpsertListing(
        seller_id=w.b, listing_id=w.listing_b, category="home", title="taken over", sku_ids=[w.sku_b1]),
     {"not_owner"}),
    ("upsert_another_sellers_listing_as_its_own", lambda w: c.UpsertListing(
        seller_id=w.a, listing_id=w.listing_b, category="home", title="taken over", sku_ids=[w.sku_b1, w.sku_b2]),
     {"not_owner"}),
    ("list_another_sellers_sku_in_its_own_listing", lambda w: c.UpsertListing(
        seller_id=w.a, listing_id=w.listing_a, category="home", title="A's lamp", sku_ids=[w.sku_a, w.sku_b2]),
     {"not_owner"}),
    ("activate_backorder_in_another_sellers_name", lambda w: c.ActivateBackorder(
        seller_id=w.b, sku_id=w.sku_b2, handling_days=5, backorder_stock=[c.WarehouseQty(warehouse_id="wh-1",
                                                                                        qty=99)]), {"not_owner"}),
    ("activate_backorder_on_another_sellers_sku", lambda w: c.ActivateBackorder(
        seller_id=w.a, sku_id=w.sku_b1, handling_days=15, backorder_stock=[c.WarehouseQty(warehouse_id="wh-1",
                                                                                         qty=0)]), {"not_owner"}),
    ("deactivate_backorder_on_another_sellers_sku", lambda w: c.DeactivateBackorder(seller_id=w.a, sku_id=w.sku_b1),
     {"not_owner"}),
    ("change_the_listing_type_of_another_sellers_sku", lambda w: c.SetListingType(
        seller_id=w.a, sku_id=w.sku_b2, listing_type="pre_order"), {"not_owner"}),
    ("count_another_sellers_stock", lambda w: inv.SetStock(sku_id=w.sku_b1, warehouse_id="wh-1", on_hand=500),
     {"not_owner"}),
    ("receive_stock_for_another_sellers_sku", lambda w: inv.ReceiveStock(
        receipt_id=f"rcpt-{uuid.uuid4().hex[:8]}", sku_id=w.sku_b1, warehouse_id="wh-1", qty=7), {"not_owner"}),
    ("set_another_sellers_stock_policy", lambda w: inv.SetStockPolicy(sku_id=w.sku_b1, safety_stock=4,
                                                                      low_stock_threshold=3), {"not_owner"}),
    ("prioritize_backorders_of_another_sellers_sku", lambda w: inv.PrioritizeBackorder(
        sku_id=w.sku_b1, order_id=w.order, priority=999), {"not_owner"}),
    ("ship_another_sellers_lines", lambda w: o.ShipLines(order_id=w.order, line_ids=["l1"], tracking_number="T-A"),
     {"not_owner"}),
    ("cancel_another_sellers_lines", lambda w: o.CancelLines(order_id=w.order, line_ids=["l1"]), {"not_owner"}),
    ("request_a_replacement_of_another_sellers_line", lambda w: o.RequestReplacement(order_id=w.shipped,
                                                                                     line_id="l1"), {"not_owner"}),
    ("confirm_delivery_of_another_sellers_shipment", lambda w: o.ConfirmDelivery(order_id=w.shipped,
                                                                                 tracking_number="T-B"), {"not_owner"}),
    ("place_an_order", lambda w: o.PlaceOrder(order_id=f"o-by-seller-{uuid.uuid4().hex[:6]}", buyer_id="b-1",
                                              buyer_email="b-1@example.com", region="US",
                                              lines=[o.OrderLine(line_id="l1", sku_id=w.sku_b1, qty=1)]),
     {"forbidden"}),
]


@pytest.mark.parametrize(("case", "command", "reasons"), CASES, ids=[case for case, _, _ in CASES])
async def test_r06a_a_seller_cannot(world: World, case: str, command: Callable[[World], Payload],
                                    reasons: set[str]) -> None:
    before = await world.views()
    sent = await world.client.send(command(world), principal=world.as_seller(world.a))
    answer = await world.client.wait_caused_by(sent, timeout=30)
    assert answer.type == "CommandRejected", answer.value
    assert answer.payload["reason"] in reasons and answer.payload["command_id"] == str(sent.event_id), answer.payload
    # the rejection is all there is; B's things are as they were
    assert [x.type for x in world.client.caused_by(sent)] == ["CommandRejected"]
    assert await world.views() == before


async def test_r06a_the_owner_can_and_the_probes_see_it(world: World) -> None:
    """B itself changes its listing, its stock and its order: the same probes see each change."""
    client, b = world.client, world.as_seller(world.b)
    before = await world.views()
    changes = [
        c.UpsertListing(seller_id=world.b, listing_id=world.listing_b, category="home", title="B's lamp, new",
                        sku_ids=[world.sku_b1, world.sku_b2]),
        inv.SetStock(sku_id=world.sku_b1, warehouse_id="wh-1", on_hand=6),
        o.ShipLines(order_id=world.order, line_ids=["l1"], tracking_number="T-B2"),
    ]
    for command in changes:
        sent = await client.send(command, principal=b)
        answer = await client.wait_caused_by(sent, timeout=30)
        assert answer.type != "CommandRejected", answer.payload
    after = await h.poll(lambda: _changed(world, before), "B's changes to show", 30.0)
    assert {"listings", "stock_b1", "order"} <= after


async def _changed(world: World, before: dict[str, Any]) -> set[str]:
    now = await world.views()
    changed = {name for name in now if now[name] != before[name]}
    return changed if {"listings", "stock_b1", "order"} <= changed else set()
