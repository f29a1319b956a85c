"""Wiring: what orders consumes, emits, runs in the background and serves."""

from __future__ import annotations

import asyncio
import base64
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import orjson
from aiohttp import web

from services.orders import batch_handlers, handlers, supply
from services.orders.domain import Order
from services.orders.kpi_gauges import kpi_gauges
from services.orders.kpis import OVERALL, kpis
from services.orders.repository import CatalogView, KpiView, OrderStore, StockView
from services.orders.settings import OrdersSettings
from services.orders.sla import sla_clock
from services.orders.statuses import ORDER_STATUSES
from services.orders.unit_of_work import make_uow
from shared.contract import catalog as cat
from shared.contract import inventory as inv
from shared.contract import orders as o
from shared.contract.topics import (
    CATALOG_EVENTS_TOPIC,
    INVENTORY_EVENTS_TOPIC,
    ORDERS_COMMANDS_TOPIC,
    ORDERS_EVENTS_TOPIC,
)
from shared.dates import is_business_day
from shared.messaging.decoding import Subscription, wired
from shared.observability.http import Route, bad_query, not_found
from shared.regions import REGION_TIMEZONES
from shared.service import ServiceContext, ServiceDefinition

SUBSCRIPTIONS = wired([
    Subscription(
        ORDERS_COMMANDS_TOPIC,
        handlers={
            o.PlaceOrder: handlers.place_order,
            o.ShipLines: handlers.ship_lines,
            o.CancelLines: handlers.cancel_lines,
            o.RequestReplacement: handlers.request_replacement,
            o.ConfirmDelivery: handlers.confirm_delivery,
        },
        # a run of PlaceOrder is placed in a few statements; a run that fails goes one by one (above)
        batch_handlers={o.PlaceOrder: batch_handlers.place_orders},
        rejections=ORDERS_EVENTS_TOPIC,
    ),
    Subscription(
        INVENTORY_EVENTS_TOPIC,
        handlers={
            inv.StockAllocated: handlers.stock_allocated,
            inv.AllocationRejected: handlers.allocation_rejected,
            inv.BackorderReleased: handlers.backorder_released,
            inv.BackorderProjected: supply.backorder_projected,
        },
        # allocation outcomes and stock levels, mixed as they arrive, a run at a time
        batch_handlers={
            inv.StockAllocated: batch_handlers.inventory_events,
            inv.AllocationRejected: batch_handlers.inventory_events,
            inv.StockChanged: batch_handlers.inventory_events,
        },
    ),
    Subscription(
        CATALOG_EVENTS_TOPIC,
        handlers={
            cat.SellerRegistered: handlers.seller_registered,
            cat.ListingUpserted: handlers.listing_upserted,
            cat.BackorderActivated: handlers.backorder_activated,
            cat.BackorderDeactivated: handlers.backorder_deactivated,
            cat.ListingTypeChanged: handlers.listing_type_changed,
            cat.AutoCancelPolicySet: supply.auto_cancel_policy_set,
        },
    ),
], handlers, batch_handlers, supply)


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


def order_view(order: Order) -> dict[str, Any]:
    return {
        "order_id": order.order_id, "buyer_id": order.buyer_id, "region": order.region, "status": order.status,
        "tags": order.tags, "placed_at": order.placed_at, "reject_reason": order.reject_reason,
        "lines": [
            {
                "line_id": line.line_id, "sku_id": line.sku_id, "qty": line.qty, "seller_id": line.seller_id,
                "state": "partially_shipped" if line.partially_shipped else line.state, "stock_state": line.state,
                "shipped_qty": line.shipped_qty,
                "shipments": [{"tracking_number": t, "qty": q} for t, q in line.shipments],
                "back_order": line.has_backorder, "waiting_qty": line.waiting,
                "ship_by": (line.dates() or (None, None))[0], "estimated_delivery": (line.dates() or (None, None))[1],
                "due_at": line.due_at, "late": line.late_at is not None, "late_at": line.late_at,
                "tracking_number": line.tracking_number, "replacement": line.replacement,
                "parts": [
                    {"warehouse_id": p.warehouse_id, "source": p.source, "qty": p.qty,
                     "released_qty": p.released_qty, "ship_by": p.ship_by, "estimated_delivery": p.estimated_delivery}
                    for p in line.parts
                ],
            }
            for line in order.lines
        ],
    }


def _encode_cursor(placed_at: datetime, order_id: str) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([placed_at.isoformat(), order_id])).decode()


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    placed_at, order_id = orjson.loads(base64.urlsafe_b64decode(cursor.encode()))
    return datetime.fromisoformat(placed_at), str(order_id)


def check_principal(header: str | None, buyer_id: str) -> None:
    """A buyer reads its own orders only, a seller no buyer's; no principal (an operator's or a
    service's call inside the platform) reads any (R26)."""
    if not header:
        return
    kind, _, who = header.partition(":")
    if kind in ("operator", "service"):
        return
    if kind != "buyer" or who != buyer_id:
        error = "not_owner" if kind == "buyer" else "forbidden"
        raise web.HTTPForbidden(text=orjson.dumps({"error": error, "message": f"{header} cannot read the orders "
                                                                              f"of buyer {buyer_id}"}).decode(),
                                content_type="application/json")


def routes(ctx: ServiceContext) -> list[Route]:
    settings = cast(OrdersSettings, ctx.settings)

    async def get_order(request: web.Request) -> web.Response:
        order_id = request.match_info["order_id"]
        async with ctx.pool.acquire() as conn:
            order = await OrderStore(conn).get(order_id)
        if order is None:
            raise not_found("unknown_order", f"no order {order_id}")
        return _json(order_view(order))

    async def seller_orders(request: web.Request) -> web.Response:
        """``?tag=back_order&status=awaiting_shipment&late=true&limit=50&cursor=...``, oldest first (R13, R19).

        A JSON list; when the page is full, ``X-Next-Cursor`` holds the ``cursor`` of the next page."""
        query = request.query
        status = query.get("status") or None
        if status is not None and status not in ORDER_STATUSES:
            raise bad_query(f"status must be one of {', '.join(ORDER_STATUSES)}")
        late = {"true": True, "1": True, "false": False, "0": False}.get(query.get("late", "").lower())
        try:
            limit = int(query.get("limit", "100"))
            after = _decode_cursor(query["cursor"]) if query.get("cursor") else None
        except (ValueError, TypeError, orjson.JSONDecodeError):
            raise bad_query("limit must be an integer and cursor a value returned in X-Next-Cursor") from None
        if not 1 <= limit <= settings.query_limit_max:
            raise bad_query(f"limit must be 1-{settings.query_limit_max}")
        async with ctx.pool.acquire() as conn:
            rows = await OrderStore(conn).seller_orders(
                request.match_info["seller_id"], tag=query.get("tag") or None, status=status, late=late,
                after=after, limit=limit,
            )
        response = _json(rows)
        if len(rows) == limit:  # there may be more: the next page starts after the last row
            response.headers["X-Next-Cursor"] = _encode_cursor(rows[-1]["placed_at"], rows[-1]["order_id"])
        return response

    async def buyer_orders(request: web.Request) -> web.Response:
        """The buyer's own orders, newest first, with lines, parts, status and dates (R26);
        ``?limit=20&cursor=...``, the next page's cursor in ``X-Next-Cursor``. A buyer principal
        (``X-Principal: buyer:<id>``, set by the gateway) sees its own orders only."""
        buyer_id = request.match_info["buyer_id"]
        check_principal(request.headers.get("X-Principal"), buyer_id)
        try:
            limit = int(request.query.get("limit", "20"))
            after = _decode_cursor(request.query["cursor"]) if request.query.get("cursor") else None
        except (ValueError, TypeError, orjson.JSONDecodeError):
            raise bad_query("limit must be an integer and cursor a value returned in X-Next-Cursor") from None
        if not 1 <= limit <= settings.query_limit_max:
            raise bad_query(f"limit must be 1-{settings.query_limit_max}")
        async with ctx.pool.acquire() as conn:
            orders = await OrderStore(conn).buyer_orders(buyer_id, after=after, limit=limit)
        response = _json([order_view(order) for order in orders])
        if len(orders) == limit:
            response.headers["X-Next-Cursor"] = _encode_cursor(orders[-1].placed_at, orders[-1].order_id)
        return response

    async def seller_stats(request: web.Request) -> web.Response:
        async with ctx.pool.acquire() as conn:
            stats = await OrderStore(conn).seller_stats(request.match_info["seller_id"])
        return _json({"seller_id": request.match_info["seller_id"], **stats})

    async def kpi_figures(request: web.Request) -> web.Response:
        """The KPIs (R23, R33): overall (seller '*') then per seller; ``?seller=`` for one."""
        async with ctx.pool.acquire() as conn:
            counts = await KpiView(conn).counts(ctx.clock.now())
        wanted = request.query.get("seller")
        figures = [kpis(c).as_dict() for c in counts if not wanted or c.seller_id in (wanted, OVERALL)]
        return _json(figures)

    async def lost_demand(request: web.Request) -> web.Response:
        """Lost demand (R33): orders and units rejected out of stock per SKU and seller, the most units first;
        ``?seller=`` for one seller, ``?limit=`` (100)."""
        try:
            limit = int(request.query.get("limit", "100"))
        except ValueError:
            raise bad_query("limit must be an integer") from None
        if not 1 <= limit <= settings.query_limit_max:
            raise bad_query(f"limit must be 1-{settings.query_limit_max}")
        async with ctx.pool.acquire() as conn:
            rows = await KpiView(conn).lost_demand(request.query.get("seller") or None, limit)
        return _json([row.as_dict() for row in rows])

    async def sku(request: web.Request) -> web.Response:
        sku_id = request.match_info["sku_id"]
        async with ctx.pool.acquire() as conn:
            view = await CatalogView(conn).view(sku_id)
            stock = await StockView(conn).status(sku_id)
        if view is None:
            raise not_found("unknown_sku", f"no SKU {sku_id}")
        return _json({**view, "out_of_stock": stock.out_of_stock, "available_to_promise": stock.available_to_promise})

    return [
        ("/orders/{order_id}", get_order),
        ("/sellers/{seller_id}/orders", seller_orders),
        ("/buyers/{buyer_id}/orders", buyer_orders),
        ("/sellers/{seller_id}/stats", seller_stats),
        ("/skus/{sku_id}", sku),
        ("/kpis", kpi_figures),
        ("/kpis/lost-demand", lost_demand),
    ]


async def warm_calendars(ctx: ServiceContext) -> None:
    """Load the regions' holiday calendars at start, in a thread: the ``holidays`` package imports its
    countries and computes a year's holidays on first use (a second or more), which would otherwise
    stall the first orders accepted."""
    today = ctx.clock.now().date()

    def warm() -> None:
        for region in REGION_TIMEZONES:
            for day in (today, today.replace(year=today.year + 1, month=1, day=1)):
                is_business_day(day, region)

    await asyncio.to_thread(warm)


DEFINITION = ServiceDefinition(
    name="orders",
    version="1.0.0",
    description=(
        "Orders and their lines: status machine, business-day ship-by and delivery dates, the handling-time "
        "SLA clock, split shipments, cancellations and refund-only replacements (R13-R19)."
    ),
    settings_cls=OrdersSettings,
    migrations=Path(__file__).parent / "migrations",
    subscriptions=SUBSCRIPTIONS,
    publishes=[ORDERS_EVENTS_TOPIC],
    make_uow=make_uow,
    background=[warm_calendars, sla_clock, kpi_gauges],
    routes=routes,
)
