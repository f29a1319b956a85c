"""What orders knows of the facts other services own: the catalog's SKUs, inventory's stock signals,
and the demand turned away. Plain values the handlers and ports name; the repository makes them from rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

#: the ``sku_stock`` warehouse id under which a SKU-wide available-to-promise is kept
SKU_WIDE = "*"

@dataclass(frozen=True)
class LostLine:
    """A line an allocation refused for lack of stock: demand turned away (R33)."""

    order_id: str
    line_id: str
    sku_id: str
    seller_id: str | None
    qty: int
    rejected_at: datetime


@dataclass(frozen=True)
class SkuRecord:
    sku_id: str
    seller_id: str
    listing_id: str
    listing_type: str
    handling_days: int | None


@dataclass(frozen=True)
class StockStatus:
    """What orders has seen of a SKU's regular stock."""

    available_to_promise: int | None
    levels_as_of: datetime | None
    exhausted_at: datetime | None

    @property
    def out_of_stock(self) -> bool:
        """The latest signal says no regular stock: levels summing to zero or less, or an allocation
        that had to use backorder stock (or failed for lack of stock) after the last level seen."""
        if self.exhausted_at is not None and (self.levels_as_of is None or self.exhausted_at >= self.levels_as_of):
            return True
        return self.available_to_promise is not None and self.available_to_promise <= 0
