"""Wiring: what the notifications service consumes, emits, runs and serves."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from aiohttp import web

from services.notifications import handlers
from services.notifications.repository import NotificationsRepository
from services.notifications.sender import sender_from
from services.notifications.settings import NotificationsSettings
from services.notifications.unit_of_work import make_uow
from shared.contract import catalog as cat
from shared.contract import inventory as inv
from shared.contract import notifications as n
from shared.contract import orders as o
from shared.contract.topics import (
    CATALOG_EVENTS_TOPIC,
    INVENTORY_EVENTS_TOPIC,
    NOTIFICATIONS_COMMANDS_TOPIC,
    NOTIFICATIONS_EVENTS_TOPIC,
    ORDERS_EVENTS_TOPIC,
)
from shared.messaging.decoding import Subscription, wired
from shared.observability.http import Route, bad_query, not_found
from shared.service import ServiceContext, ServiceDefinition

SUBSCRIPTIONS = wired([
    Subscription(
        ORDERS_EVENTS_TOPIC,
        handlers={
            o.OrderPlaced: handlers.order_placed,
            o.OrderAccepted: handlers.order_accepted,
            o.OrderRejected: handlers.order_rejected,
            o.LinesReleased: handlers.lines_released,
            o.LinesShipped: handlers.lines_shipped,
            o.OrderShipmentLate: handlers.shipment_late,
            o.BackorderDelayed: handlers.backorder_delayed,
            o.LinesCancelled: handlers.lines_cancelled,
            o.RefundRequested: handlers.refund_requested,
            o.BackorderUncovered: handlers.backorder_uncovered,  # to the seller (R29, R32)
        },
        # the two of every order, mixed as they arrive, a run at a time; one by one (above) if a run fails
        batch_handlers={o.OrderPlaced: handlers.placed_and_accepted, o.OrderAccepted: handlers.placed_and_accepted},
    ),
    # R32: sellers' stock alerts, and where to email them
    Subscription(INVENTORY_EVENTS_TOPIC, handlers={
        inv.LowStock: handlers.low_stock,
        inv.BackorderStockExhausted: handlers.backorder_stock_exhausted,
    }),
    Subscription(CATALOG_EVENTS_TOPIC, handlers={cat.SellerRegistered: handlers.seller_registered}),
    Subscription(
        NOTIFICATIONS_COMMANDS_TOPIC,
        handlers={n.MarkNotificationsRead: handlers.mark_read},
        rejections=NOTIFICATIONS_EVENTS_TOPIC,
    ),
], handlers)

CHANNELS = ("app", "email")
STATUSES = ("pending", "sending", "sent", "failed")


def _choice(request: web.Request, name: str, allowed: tuple[str, ...]) -> str | None:
    value = request.query.get(name)
    if value is not None and value not in allowed:
        raise bad_query(f"{name} must be one of {', '.join(allowed)}")
    return value


def _limit(request: web.Request, default: int = 100) -> int:
    try:
        value = int(request.query.get("limit", default))
    except ValueError:
        raise bad_query("limit must be a number") from None
    if not 1 <= value <= 1000:
        raise bad_query("limit must be 1-1000")
    return value


def routes(ctx: ServiceContext) -> list[Route]:
    """Read-only queries for the operator CLI (``backorder notifications``) and the buyer app's inbox.

    Lists are JSON arrays, newest first for a buyer (``?channel=app&unread=1`` is the unread inbox; the
    ``X-Unread-Count`` header counts it), oldest first for an order; ``/notifications/{id}`` has the
    message and its ISO data. No email address is ever returned.
    """

    async def buyer_notifications(request: web.Request) -> web.Response:
        buyer_id = request.match_info["buyer_id"]
        unread_only = request.query.get("unread") in ("1", "true", "yes")
        async with ctx.pool.acquire() as conn:
            repo = NotificationsRepository(conn)
            rows = await repo.list_by_buyer(
                buyer_id, channel=_choice(request, "channel", CHANNELS), status=_choice(request, "status", STATUSES),
                unread_only=unread_only, limit=_limit(request),
            )
            unread = await repo.unread_count(buyer_id)
        return web.json_response(rows, headers={"X-Unread-Count": str(unread)})

    async def seller_notifications(request: web.Request) -> web.Response:
        """R32: the seller's alerts (app messages and emails), newest first."""
        seller_id = request.match_info["seller_id"]
        async with ctx.pool.acquire() as conn:
            rows = await NotificationsRepository(conn).list_by_seller(
                seller_id, channel=_choice(request, "channel", CHANNELS), limit=_limit(request))
        return web.json_response(rows)

    async def order_notifications(request: web.Request) -> web.Response:
        order_id = request.match_info["order_id"]
        async with ctx.pool.acquire() as conn:
            rows = await NotificationsRepository(conn).list_by_order(order_id, limit=_limit(request, 500))
        return web.json_response(rows)

    async def notification(request: web.Request) -> web.Response:
        given = request.match_info["notification_id"]
        try:
            notification_id = str(uuid.UUID(given))
        except ValueError:
            raise not_found("unknown_notification", f"no notification {given}") from None
        async with ctx.pool.acquire() as conn:
            row: dict[str, Any] | None = await NotificationsRepository(conn).get(notification_id)
        if row is None:
            raise not_found("unknown_notification", f"no notification {given}")
        return web.json_response(row)

    return [
        ("/buyers/{buyer_id}/notifications", buyer_notifications),
        ("/sellers/{seller_id}/notifications", seller_notifications),
        ("/orders/{order_id}/notifications", order_notifications),
        ("/notifications/{notification_id}", notification),
    ]


async def send_emails(ctx: ServiceContext) -> None:
    """The email sender (see ``sender.py``): a background task of every instance."""
    await sender_from(ctx).run()


DEFINITION = ServiceDefinition(
    name="notifications",
    version="1.0.0",
    description="Tells buyers about their backordered items, and sellers about their stock (R32), in the app and "
                "by email, each message once (R20-R22).",
    settings_cls=NotificationsSettings,
    migrations=Path(__file__).parent / "migrations",
    subscriptions=SUBSCRIPTIONS,
    publishes=[NOTIFICATIONS_EVENTS_TOPIC],
    make_uow=make_uow,
    background=[send_emails],
    routes=routes,
)
