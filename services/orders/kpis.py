"""The seeds' backorder KPIs (R23) and R33's additions, per seller and overall. Pure: counts in, rates out.

Definitions (over accepted orders: decided and not rejected; an order with lines of several
sellers counts once overall and once for each of its sellers, with that seller's lines):

* backorder rate       orders with a backordered line / orders
* average backorder age mean days since placement of backordered lines still open
                        (waiting for stock or ready to ship), 0 when there are none
* fill rate (R33)      closed orders whose every line shipped complete and on time (none late, none
                        cancelled) / closed orders. An order is closed when nothing of it is left to ship:
                        every line is shipped, delivered or cancelled. Open orders count in neither.
* late-shipment rate   backordered lines that became late (R15) / backordered lines
* cancellation rate    cancelled lines / lines
* backorder cancellation rate (R33)  cancelled backordered lines / backordered lines (a line is
                        backordered when its allocation took backorder stock)

Lost demand (R33) is over rejected orders instead: the lines an allocation refused ``out_of_stock``
(the lines the rejection names; the order's other lines had stock and are not lost demand of their
SKU). ``lost_orders`` counts orders with such a line, ``lost_units`` their units; per SKU and seller
in ``LostDemand``, per seller and overall in ``KpiCounts``.
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
    closed_orders: int
    cancelled_backordered_lines: int
    lost_orders: int
    lost_units: int

    def __post_init__(self) -> None:
        """Each part is counted within its whole (see the ``kpi_counts`` query): a negative count or a part
        larger than its whole is a bug upstream, refused here rather than reported as a rate above 1."""
        wholes = {"backordered_orders": self.orders, "closed_orders": self.orders,
                  "filled_orders": self.closed_orders, "backordered_lines": self.lines,
                  "late_lines": self.backordered_lines, "cancelled_lines": self.lines,
                  "cancelled_backordered_lines": min(self.backordered_lines, self.cancelled_lines),
                  "lost_orders": self.lost_units}  # every lost order turned away at least one unit
        for part, whole in wholes.items():
            if not 0 <= getattr(self, part) <= whole:
                raise ValueError(f"{part}={getattr(self, part)} is not within 0..{whole} ({self.seller_id})")
        if self.orders < 0 or self.lines < 0 or self.lost_units < 0:
            raise ValueError(f"negative counts for {self.seller_id}: orders={self.orders}, lines={self.lines}, "
                             f"lost_units={self.lost_units}")


@dataclass(frozen=True)
class Kpis:
    seller_id: str
    orders: int
    backorder_rate: float
    average_backorder_age_days: float
    fill_rate: float
    late_shipment_rate: float
    cancellation_rate: float
    closed_orders: int
    backorder_cancellation_rate: float
    lost_orders: int
    lost_units: int

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
        fill_rate=_rate(counts.filled_orders, counts.closed_orders),
        late_shipment_rate=_rate(counts.late_lines, counts.backordered_lines),
        cancellation_rate=_rate(counts.cancelled_lines, counts.lines),
        closed_orders=counts.closed_orders,
        backorder_cancellation_rate=_rate(counts.cancelled_backordered_lines, counts.backordered_lines),
        lost_orders=counts.lost_orders,
        lost_units=counts.lost_units,
    )


@dataclass(frozen=True)
class LostDemand:
    """Demand turned away for lack of stock (R33) for one SKU of one seller: orders and units."""

    seller_id: str
    sku_id: str
    orders: int
    units: int

    def __post_init__(self) -> None:
        if not 0 <= self.orders <= self.units:
            raise ValueError(f"lost demand of {self.sku_id}: {self.orders} orders, {self.units} units")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


KPI_NAMES = ("backorder_rate", "average_backorder_age_days", "fill_rate", "late_shipment_rate", "cancellation_rate",
             "backorder_cancellation_rate", "lost_orders", "lost_units")
