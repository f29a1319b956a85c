"""Wiring: what inventory consumes, emits and serves."""

from __future__ import annotations

from pathlib import Path

import orjson
from aiohttp import web

from services.inventory import domain, handlers, inbound
from services.inventory.domain import Policy
from services.inventory.promise_view import quote_route
from services.inventory.repository import InventoryRepository
from services.inventory.settings import InventorySettings
from services.inventory.unit_of_work import make_uow
from shared.contract import catalog as cat
from shared.contract import inventory as inv
from shared.contract import orders as o
from shared.contract.topics import (
    CATALOG_EVENTS_TOPIC,
    INVENTORY_COMMANDS_TOPIC,
    INVENTORY_EVENTS_TOPIC,
    ORDERS_EVENTS_TOPIC,
)
from shared.dates import DatingPolicy, DatingSettings
from shared.messaging.decoding import Subscription, wired
from shared.observability.http import Route, bad_query
from shared.service import ServiceContext, ServiceDefinition

SUBSCRIPTIONS = wired([
    Subscription(
        INVENTORY_COMMANDS_TOPIC,
        handlers={
            inv.SetStock: handlers.set_stock,
            inv.ReceiveStock: handlers.receive_stock,
            inv.SetStockPolicy: handlers.set_stock_policy,
            inv.PrioritizeBackorder: handlers.prioritize_backorder,
            inv.SetTransferPolicy: handlers.set_transfer_policy,
            inv.AnnounceInbound: inbound.announce_inbound,
            inv.ChangeInbound: inbound.change_inbound,
            inv.CancelInbound: inbound.cancel_inbound,
        },
        rejections=INVENTORY_EVENTS_TOPIC,
    ),
    Subscription(
        CATALOG_EVENTS_TOPIC,
        handlers={
            cat.SellerRegistered: handlers.on_seller_registered,
            cat.ListingUpserted: handlers.on_listing_upserted,
            cat.BackorderActivated: handlers.on_backorder_activated,
            cat.BackorderDeactivated: handlers.on_backorder_deactivated,
            cat.ListingTypeChanged: handlers.on_listing_type_changed,
        },
    ),
    Subscription(
        ORDERS_EVENTS_TOPIC,
        handlers={
            o.LinesCancelled: handlers.on_lines_cancelled,
            o.LinesShipped: handlers.on_lines_shipped,
        },
        batch_handlers={o.OrderPlaced: handlers.allocate_orders},
    ),
], handlers, inbound)


def routes(ctx: ServiceContext) -> list[Route]:
    settings = ctx.settings
    priorities = settings.warehouse_priority if isinstance(settings, InventorySettings) else {}
    dating = settings.dating_policy() if isinstance(settings, DatingSettings) else DatingPolicy()

    async def stock(request: web.Request) -> web.Response:
        """Seller-facing levels of a SKU (R10): per warehouse and in total."""
        sku_id = request.match_info["sku_id"]
        async with ctx.pool.acquire() as conn:
            repo = InventoryRepository(conn, priorities)
            levels = await repo.sku_levels(sku_id)
            policy = (await repo.policies([sku_id])).get(sku_id) or Policy(sku_id)
        warehouses = []
        for level in levels:
            view = domain.seller_view(level, levels, policy)
            warehouses.append({
                "warehouse_id": level.warehouse_id, "on_hand": level.on_hand, "allocated": level.allocated,
                "backorder_limit": level.backorder_limit, "backorder_allocated": level.backorder_allocated,
                "in_stock": view.in_stock, "backorder": view.backorder, "total": view.total,
                "available_to_promise": view.available_to_promise, "priority": level.priority,
            })
        sku = domain.seller_view(levels[0], levels, policy) if levels else None
        return web.json_response({
            "sku_id": sku_id, "warehouses": warehouses,
            "in_stock": sku.sku_in_stock if sku else 0, "backorder": sku.sku_backorder if sku else 0,
            "total": sku.sku_total if sku else 0,
            "available_to_promise": sku.sku_available_to_promise if sku else 0,
            "safety_stock": policy.safety_stock, "low_stock_threshold": policy.low_stock_threshold,
            "low_stock_alerted": policy.low_stock_alerted, "backorder_enabled": policy.backorder_enabled,
            "transfers_allowed": policy.transfers_allowed,  # R31
            "transfer_warehouses": list(policy.transfer_warehouses) if policy.transfer_warehouses is not None else None,
        })

    async def promise(request: web.Request) -> web.Response:
        """The buyer's promise (R24): ``?qty=2&region=US``. Reserves nothing."""
        return _json(await quote_route(ctx, request, priorities, dating))

    async def ledger(request: web.Request) -> web.Response:
        """The newest ledger rows of a SKU (R12), newest first; ``?limit=`` up to 10,000."""
        try:
            limit = min(10_000, max(1, int(request.query.get("limit", "100"))))
        except ValueError:
            raise bad_query("limit must be an integer") from None
        async with ctx.pool.acquire() as conn:
            rows = await InventoryRepository(conn).ledger(request.match_info["sku_id"], limit)
        return web.json_response(rows, dumps=_dumps)

    async def inbounds(request: web.Request) -> web.Response:
        """A SKU's inbounds (R28), by expected arrival: open, received and cancelled."""
        async with ctx.pool.acquire() as conn:
            rows = await InventoryRepository(conn).sku_inbounds(request.match_info["sku_id"])
        return web.json_response(rows, dumps=_dumps)

    async def allocations(request: web.Request) -> web.Response:
        async with ctx.pool.acquire() as conn:
            rows = await InventoryRepository(conn).order_parts(request.match_info["order_id"])
        return web.json_response(rows, dumps=_dumps)

    async def audit(_: web.Request) -> web.Response:
        """Do the ledgers rebuild to the stored levels (R12), and do the parts add up to them?"""
        async with ctx.pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            repo = InventoryRepository(conn)
            ledger = await repo.ledger_mismatches()
            parts = await repo.parts_mismatches()
            totals = await repo.ledger_totals()
        return web.json_response({
            "ledger_matches_levels": not ledger, "mismatches": ledger,
            "parts_match_levels": not parts, "parts_mismatches": parts,
            "ledger_rows": totals["rows"], "levels": totals["levels"],
        })

    return [
        ("/skus/{sku_id}/stock", stock),
        ("/skus/{sku_id}/ledger", ledger),
        ("/skus/{sku_id}/promise", promise),
        ("/skus/{sku_id}/inbounds", inbounds),
        ("/orders/{order_id}/allocations", allocations),
        ("/audit/ledger", audit),
    ]


def _json(body: object) -> web.Response:
    return web.Response(body=orjson.dumps(body), content_type="application/json")


def _dumps(value: object) -> str:
    return orjson.dumps(value, default=str).decode()


DEFINITION = ServiceDefinition(
    name="inventory",
    version="1.0.0",
    description="Per-warehouse regular and backorder ledgers; allocation without oversell; restocks (R07-R12).",
    settings_cls=InventorySettings,
    migrations=Path(__file__).parent / "migrations",
    subscriptions=SUBSCRIPTIONS,
    publishes=[INVENTORY_EVENTS_TOPIC],
    make_uow=make_uow,
    routes=routes,
)
