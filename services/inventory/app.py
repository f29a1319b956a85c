"""Wiring: what inventory consumes, emits and serves."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from services.inventory import handlers
from services.inventory.repository import InventoryRepository
from services.inventory.settings import InventorySettings
from services.inventory.unit_of_work import make_uow
from shared.contract.topics import (
    CATALOG_EVENTS_TOPIC,
    INVENTORY_COMMANDS_TOPIC,
    INVENTORY_EVENTS_TOPIC,
    ORDERS_EVENTS_TOPIC,
)
from shared.messaging.consumer import Subscription
from shared.observability.http import Route
from shared.service import ServiceContext, ServiceDefinition

SUBSCRIPTIONS = [
    Subscription(
        INVENTORY_COMMANDS_TOPIC,
        handlers={
            "SetStock": handlers.set_stock,
            "ReceiveStock": handlers.receive_stock,
            "SetStockPolicy": handlers.set_stock_policy,
            "PrioritizeBackorder": handlers.prioritize_backorder,
        },
        rejections=INVENTORY_EVENTS_TOPIC,
    ),
    Subscription(
        CATALOG_EVENTS_TOPIC,
        handlers={
            "ListingUpserted": handlers.on_listing_upserted,
            "BackorderActivated": handlers.on_backorder_activated,
            "BackorderDeactivated": handlers.on_backorder_deactivated,
            "ListingTypeChanged": handlers.on_listing_type_changed,
        },
    ),
    Subscription(
        ORDERS_EVENTS_TOPIC,
        handlers={
            "LinesCancelled": handlers.on_lines_cancelled,
            "LinesShipped": handlers.on_lines_shipped,
        },
        batch_handlers={"OrderPlaced": handlers.allocate_orders},
    ),
]


def routes(ctx: ServiceContext) -> list[Route]:
    async def stock(request: web.Request) -> web.Response:
        sku_id = request.match_info["sku_id"]
        async with ctx.pool.acquire() as conn:
            repo = InventoryRepository(conn)
            levels = await repo.sku_levels(sku_id)
            policy = (await repo.policies([sku_id])).get(sku_id)
        safety = policy.safety_stock if policy else 0
        in_stock = sum(lv["on_hand"] - lv["allocated"] for lv in levels)
        backorder = sum(lv["backorder_limit"] - lv["backorder_allocated"] for lv in levels)
        return web.json_response({
            "sku_id": sku_id, "warehouses": levels, "in_stock": in_stock, "backorder": backorder,
            "total": in_stock + backorder, "safety_stock": safety,
            "available_to_promise": max(0, in_stock - safety),
            "backorder_enabled": bool(policy and policy.backorder_enabled),
        })

    async def ledger(request: web.Request) -> web.Response:
        async with ctx.pool.acquire() as conn:
            rows = await InventoryRepository(conn).ledger(request.match_info["sku_id"],
                                                          int(request.query.get("limit", "100")))
        return web.json_response(rows, dumps=_dumps)

    async def allocations(request: web.Request) -> web.Response:
        async with ctx.pool.acquire() as conn:
            rows = await InventoryRepository(conn).order_parts(request.match_info["order_id"])
        return web.json_response(rows)

    async def audit(_: web.Request) -> web.Response:
        async with ctx.pool.acquire() as conn:
            mismatches = await InventoryRepository(conn).ledger_mismatches()
        return web.json_response({"ledger_matches_levels": not mismatches, "mismatches": mismatches})

    return [
        ("/skus/{sku_id}/stock", stock),
        ("/skus/{sku_id}/ledger", ledger),
        ("/orders/{order_id}/allocations", allocations),
        ("/audit/ledger", audit),
    ]


def _dumps(value: object) -> str:
    import orjson

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
