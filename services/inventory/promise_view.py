"""The promise read route (R24): query parsing, the reads, the JSON answer.

``GET /skus/{sku_id}/promise?qty=2&region=US`` answers what ``promise.quote`` decides at the
service clock's instant, from one consistent snapshot of the SKU's levels and policy. Bad input
is a 4xx with a machine-readable ``error``: ``invalid_quantity`` and ``unknown_region`` (400),
``unknown_sku`` (404), ``quantity_exceeds_stock`` (409, while some stock is left). A quote
writes nothing and takes no lock.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from aiohttp import web

from services.inventory.domain import Policy
from services.inventory.promise import Quote, quote
from services.inventory.repository import InventoryRepository
from shared.clock import aware_now
from shared.dates import DatingPolicy
from shared.domain import Rejection
from shared.observability.http import http_error, not_found
from shared.regions import REGION_TIMEZONES
from shared.service import ServiceContext


def known_regions(dating: DatingPolicy) -> set[str]:
    """Regions a buyer may be in: those the platform has a zone or a transit time for."""
    return set(REGION_TIMEZONES) | set(dating.transit_days)


def quote_view(q: Quote) -> dict[str, Any]:
    return {
        "sku_id": q.sku_id, "qty": q.qty, "region": q.region, "quoted_at": q.quoted_at.isoformat(),
        "orderable": q.orderable, "label": q.label, "regular_qty": q.regular_qty, "backorder_qty": q.backorder_qty,
        "handling_days": q.handling_days,
        "available": {"regular": q.available.regular, "backorder": q.available.backorder},
        "ship_by": max((p.ship_by for p in q.parts), default=None),
        "estimated_delivery": max((p.estimated_delivery for p in q.parts), default=None),
        "parts": [
            {"warehouse_id": p.warehouse_id, "source": p.source, "qty": p.qty, "ship_by": p.ship_by,
             "estimated_delivery": p.estimated_delivery}
            for p in q.parts
        ],
    }


async def quote_route(ctx: ServiceContext, request: web.Request, priorities: Mapping[str, int],
                      dating: DatingPolicy) -> dict[str, Any]:
    sku_id = request.match_info["sku_id"]
    try:
        qty = int(request.query.get("qty", "1"))
    except ValueError:
        raise http_error(400, "invalid_quantity", "qty must be a whole number of units") from None
    if qty <= 0:
        raise http_error(400, "invalid_quantity", f"qty must be at least 1, got {qty}")
    region = request.query.get("region", "")
    if region not in known_regions(dating):
        raise http_error(400, "unknown_region", f"region must be one of {', '.join(sorted(known_regions(dating)))}")
    async with ctx.pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        repo = InventoryRepository(conn, priorities)
        policy = (await repo.policies([sku_id])).get(sku_id)
        levels = await repo.sku_levels(sku_id)
        seller = await repo.seller_terms(sku_id)
    if policy is None and not levels:
        raise not_found("unknown_sku", f"no SKU {sku_id}")
    now = aware_now(ctx.clock)
    try:
        answer = quote(sku_id, qty, region, now, levels=levels, policy=policy or Policy(sku_id), seller=seller,
                       dating=dating)
    except Rejection as refused:
        if refused.reason == "quantity_exceeds_stock":  # the error shape of http_error, with 409
            raise web.HTTPConflict(text=orjson.dumps({"error": refused.reason, "message": refused.message}).decode(),
                                   content_type="application/json") from None
        raise http_error(400, refused.reason, refused.message) from None
    return quote_view(answer)

