"""Orders settings, read from the environment (no prefix, like every service).

The dating settings of R14 (``ORDER_CUTOFF``, ``REGULAR_DISPATCH_DAYS``, ``TRANSIT_DAYS``,
``DEFAULT_TRANSIT_DAYS``, ``FALLBACK_HANDLING_DAYS``) are ``shared.dates.DatingSettings``: inventory
reads the same ones to quote promises (R24).
"""

from __future__ import annotations

from pydantic import Field

from shared.dates import DEFAULT_TRANSIT_DAYS, DatingSettings

__all__ = ["DEFAULT_TRANSIT_DAYS", "OrdersSettings"]


class OrdersSettings(DatingSettings):
    kpi_refresh_s: float = Field(default=15.0, gt=0, description="How often the KPI gauges are recomputed")
    kpi_metrics_max_sellers: int = Field(
        default=100, ge=0, description="Per-seller KPI gauges for at most this many sellers (by orders)"
    )
    kpi_metrics_max_lost_skus: int = Field(
        default=50, ge=0, le=1000,
        description="Lost-demand gauges (R33) for at most this many SKUs, those with the most units turned away",
    )
    sla_poll_s: float = Field(default=1.0, gt=0, le=60, description="Longest wait between two SLA clock scans")
    sla_batch: int = Field(default=200, ge=1, le=10_000, description="Late lines fired per SLA transaction")
    query_limit_max: int = Field(default=500, ge=1, le=10_000)
