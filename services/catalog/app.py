"""Wiring: what the catalog consumes, emits and serves."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from services.catalog import handlers
from services.catalog.repository import CatalogQueries
from services.catalog.settings import CatalogSettings
from services.catalog.unit_of_work import make_uow
from shared.contract import catalog as cat
from shared.contract.topics import CATALOG_COMMANDS_TOPIC, CATALOG_EVENTS_TOPIC
from shared.messaging.decoding import Subscription, wired
from shared.observability.http import Route, not_found
from shared.service import ServiceContext, ServiceDefinition

SUBSCRIPTIONS = wired([
    Subscription(
        CATALOG_COMMANDS_TOPIC,
        handlers={
            cat.RegisterSeller: handlers.register_seller,
            cat.SetSellerEligibility: handlers.set_seller_eligibility,
            cat.UpsertListing: handlers.upsert_listing,
            cat.ActivateBackorder: handlers.activate_backorder,
            cat.DeactivateBackorder: handlers.deactivate_backorder,
            cat.SetListingType: handlers.set_listing_type,
            cat.SetAutoCancelPolicy: handlers.set_auto_cancel_policy,
        },
        rejections=CATALOG_EVENTS_TOPIC,
    )
], handlers)


def routes(ctx: ServiceContext) -> list[Route]:
    """The read API the operator CLI calls, so that it never couples to the catalog's tables."""

    async def listings(request: web.Request) -> web.Response:
        """A seller's listings with the "Back order" label; ``?back_order=1`` keeps only those (R06)."""
        back_order_only = request.query.get("back_order", "").lower() in ("1", "true", "yes")
        async with ctx.pool.acquire() as conn:
            rows = await CatalogQueries(conn).listings(request.match_info["seller_id"], back_order_only=back_order_only)
        return web.json_response(rows)

    async def sku(request: web.Request) -> web.Response:
        """A SKU's listing type, handling days and backorder stock per warehouse."""
        sku_id = request.match_info["sku_id"]
        async with ctx.pool.acquire() as conn:
            row = await CatalogQueries(conn).sku(sku_id)
        if row is None:
            raise not_found("unknown_sku", f"no SKU {sku_id}")
        return web.json_response(row)

    return [("/sellers/{seller_id}/listings", listings), ("/skus/{sku_id}", sku)]


DEFINITION = ServiceDefinition(
    name="catalog",
    version="1.0.0",
    description="Sellers, listings and SKU listing types; backorder eligibility, caps and handling times (R01-R06a).",
    settings_cls=CatalogSettings,
    migrations=Path(__file__).parent / "migrations",
    subscriptions=SUBSCRIPTIONS,
    publishes=[CATALOG_EVENTS_TOPIC],
    make_uow=make_uow,
    routes=routes,
)
