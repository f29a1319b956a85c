"""Orders' own Prometheus metrics (beside the shared ones)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

LATE_SHIPMENTS = Counter("backorder_orders_late_shipments_total", "Lines found late by the SLA clock (R15)")
SLA_FIRING_LAG = Histogram(
    "backorder_orders_sla_firing_lag_seconds",
    "How long after its deadline a late line was fired",
    buckets=(0.1, 0.5, 1, 2, 5, 15, 60, 300, 3600),
)

KPI = Gauge("backorder_kpi", "The seeds' backorder KPIs (R23, R33); seller '*' is overall", ["kpi", "seller"])
LOST_ORDERS = Gauge("backorder_lost_demand_orders", "Orders rejected out of stock (R33), per SKU and seller",
                    ["seller_id", "sku_id"])
LOST_UNITS = Gauge("backorder_lost_demand_units", "Units rejected out of stock (R33), per SKU and seller",
                   ["seller_id", "sku_id"])
