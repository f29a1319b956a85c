"""Orders settings, read from the environment (no prefix, like every service)."""

from __future__ import annotations

from datetime import time

from pydantic import Field

from shared.settings import ServiceSettings

#: Business days from ship-by to delivery, by the buyer's region (R14). A sensible default for
#: domestic ground shipping; override with ``TRANSIT_DAYS='{"US": 4}'`` (merged over this table).
DEFAULT_TRANSIT_DAYS: dict[str, int] = {
    "US": 5, "MX": 6, "BR": 7, "GB": 3, "DE": 3, "FR": 3, "ES": 3, "IT": 3, "JP": 2, "SG": 2,
    "MY": 4, "TH": 4, "VN": 4, "PH": 5, "ID": 5,
}


class OrdersSettings(ServiceSettings):
    kpi_refresh_s: float = Field(default=15.0, gt=0, description="How often the KPI gauges are recomputed")
    kpi_metrics_max_sellers: int = Field(
        default=100, ge=0, description="Per-seller KPI gauges for at most this many sellers (by orders)"
    )
    order_cutoff: time = Field(
        default=time(14, 0),
        description="Local time (seller's zone) after which an order counts from the next business day",
    )
    regular_dispatch_days: int = Field(default=2, ge=0, le=30, description="Standard dispatch time of regular parts")
    transit_days: dict[str, int] = Field(default_factory=dict, description="Overrides of DEFAULT_TRANSIT_DAYS")
    default_transit_days: int = Field(default=5, ge=0, le=60, description="Transit for regions not in the table")
    fallback_handling_days: int = Field(
        default=15, ge=1, le=60,
        description="Handling time of a backorder part whose SKU orders has not heard of from the catalog",
    )
    sla_poll_s: float = Field(default=1.0, gt=0, le=60, description="Longest wait between two SLA clock scans")
    sla_batch: int = Field(default=200, ge=1, le=10_000, description="Late lines fired per SLA transaction")
    query_limit_max: int = Field(default=500, ge=1, le=10_000)

    def transit_table(self) -> dict[str, int]:
        return {**DEFAULT_TRANSIT_DAYS, **self.transit_days}
