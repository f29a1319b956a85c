"""Keeps the ``backorder_kpi`` gauges (R23, R33) and the lost-demand gauges per SKU and seller (R33) current."""

from __future__ import annotations

import asyncio
from typing import cast

import structlog

from services.orders import metrics
from services.orders.kpis import KPI_NAMES, OVERALL, kpis
from services.orders.repository import KpiView
from services.orders.settings import OrdersSettings
from shared.service import ServiceContext

log = structlog.get_logger(__name__)


async def kpi_gauges(ctx: ServiceContext) -> None:
    settings = cast(OrdersSettings, ctx.settings)
    exported: set[str] = set()
    exported_lost: set[tuple[str, str]] = set()
    while True:
        try:
            async with ctx.pool.acquire() as conn:
                counts = await KpiView(conn).counts(ctx.clock.now())
            sellers = [c for c in counts if c.seller_id != OVERALL]
            sellers = sorted(sellers, key=lambda c: -c.orders)[: settings.kpi_metrics_max_sellers]
            current = {c.seller_id for c in sellers} | {OVERALL}
            for count in [c for c in counts if c.seller_id in current]:
                figures = kpis(count).as_dict()
                for name in KPI_NAMES:
                    metrics.KPI.labels(name, count.seller_id).set(figures[name])
            for gone in exported - current:  # a seller that fell out of the top list
                for name in KPI_NAMES:
                    metrics.KPI.remove(name, gone)
            exported = current
            exported_lost = await _lost_demand_gauges(ctx, settings, exported_lost)
        except Exception as exc:  # the database may be down: keep the last figures, try again
            log.warning("kpi_refresh_failed", error=repr(exc))
        await asyncio.sleep(settings.kpi_refresh_s)


async def _lost_demand_gauges(ctx: ServiceContext, settings: OrdersSettings,
                              exported: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """One pair of series per (seller, SKU), for the ``kpi_metrics_max_lost_skus`` SKUs with the most units
    turned away: SKU ids are unbounded, so the rest are on the read route only."""
    if settings.kpi_metrics_max_lost_skus:
        async with ctx.pool.acquire() as conn:
            lost = await KpiView(conn).lost_demand(None, settings.kpi_metrics_max_lost_skus)
    else:
        lost = []
    current = {(x.seller_id, x.sku_id) for x in lost}
    for x in lost:
        metrics.LOST_ORDERS.labels(x.seller_id, x.sku_id).set(x.orders)
        metrics.LOST_UNITS.labels(x.seller_id, x.sku_id).set(x.units)
    for gone in exported - current:  # a SKU that fell out of the top list
        metrics.LOST_ORDERS.remove(*gone)
        metrics.LOST_UNITS.remove(*gone)
    return current
