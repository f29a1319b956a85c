"""Keeps the ``backorder_kpi`` gauges current (R23)."""

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
        except Exception as exc:  # the database may be down: keep the last figures, try again
            log.warning("kpi_refresh_failed", error=repr(exc))
        await asyncio.sleep(settings.kpi_refresh_s)
