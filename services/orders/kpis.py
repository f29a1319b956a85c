"""The seeds' backorder KPIs (R23), per seller and overall. Pure: counts in, rates out.

Definitions (over accepted orders: decided and not rejected; an order with lines of several
sellers counts once overall and once for each of its sellers):

* backorder rate       orders with a backordered line / orders
* average backorder age mean days since placement of backordered lines still open
                        (waiting for stock or ready to ship), 0 when there are none
* fill rate            orders whose every line shipped and none was late / orders
* late-shipment rate   backordered lines that became late (R15) / backordered lines
* cancellation rate    cancelled lines / lines
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

OVERALL = "*"


@dataclass(frozen=True)
class KpiCounts:
    seller_id: str
    orders: int
    backordered_orders: int
    filled_orders: int
    lines: int
    backordered_lines: int
    late_lines: int
    cancelled_lines: int
    open_backorder_age_days: float

    def __post_init__(self) -> None:
        """Each part is counted within its whole (see the ``kpi_counts`` query): a negative count or a part
        larger than its whole is a bug upstream, refused here rather than reported as a rate above 1."""
        wholes = {"backordered_orders": self.orders, "filled_orders": self.orders,
                  "backordered_lines": self.lines, "late_lines": self.backordered_lines,
                  "cancelled_lines": self.lines}
        for part, whole in wholes.items():
            if not 0 <= getattr(self, part) <= whole:
                raise ValueError(f"{part}={getattr(self, part)} is not within 0..{whole} ({self.seller_id})")
        if self.orders < 0 or self.lines < 0:
            raise ValueError(f"negative counts for {self.seller_id}: orders={self.orders}, lines={self.lines}")


@dataclass(frozen=True)
class Kpis:
    seller_id: str
    orders: int
    backorder_rate: float
    average_backorder_age_days: float
    fill_rate: float
    late_shipment_rate: float
    cancellation_rate: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _rate(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def kpis(counts: KpiCounts) -> Kpis:
    return Kpis(
        seller_id=counts.seller_id,
        orders=counts.orders,
        backorder_rate=_rate(counts.backordered_orders, counts.orders),
        average_backorder_age_days=round(counts.open_backorder_age_days, 2),
        fill_rate=_rate(counts.filled_orders, counts.orders),
        late_shipment_rate=_rate(counts.late_lines, counts.backordered_lines),
        cancellation_rate=_rate(counts.cancelled_lines, counts.lines),
    )


KPI_NAMES = ("backorder_rate", "average_backorder_age_days", "fill_rate", "late_shipment_rate", "cancellation_rate")
