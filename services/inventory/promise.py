"""The buyer's promise before purchase (R24) and what a storefront shows of it (R25). Pure: no I/O.

A quote for a SKU, a quantity and a buyer region runs what acceptance would run at that
instant, and nothing else:

* the split into regular and backorder units and the warehouses are ``allocation.plan_line``,
  the very function that allocates an order (R07-R09);
* each part is dated by ``shared.dates.part_dates`` with the dating settings orders reads
  (``shared.dates.DatingSettings``), the seller's region and zone and the SKU's handling time,
  as ``Order.accept`` dates it (R14).

So a quote at ``t`` equals the dates of an order placed at ``t`` when no stock moved in
between (the property ``tests/unit/inventory/test_promise_properties.py`` checks). A quote
reserves nothing.

Labels (R24): ``on_back_order`` when any unit would come from backorder stock,
``in_stock`` when all come from regular stock, ``out_of_stock`` (not orderable) when regular
and backorder stock are both exhausted. A quantity above what is left, while something is
left, is refused (``quantity_exceeds_stock``): the answer would be neither.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

from services.inventory.allocation import plan_line
from services.inventory.domain import BACKORDER, Level, Policy, available_to_promise
from shared.dates import DatingPolicy, part_dates
from shared.domain import Rejection

Label = Literal["in_stock", "on_back_order", "out_of_stock"]
IN_STOCK: Label = "in_stock"
ON_BACK_ORDER: Label = "on_back_order"
OUT_OF_STOCK: Label = "out_of_stock"


@dataclass(frozen=True)
class SellerTerms:
    """Where the SKU's seller dates its parts: its region and zone (None when not known: the
    buyer's region then, as acceptance does)."""

    region: str | None = None
    timezone: str | None = None


@dataclass(frozen=True)
class QuotedPart:
    warehouse_id: str
    source: str
    qty: int
    ship_by: date
    estimated_delivery: date


@dataclass(frozen=True)
class Availability:
    """What a SKU can sell now: regular units (its ATP) and backorder units (while on backorder)."""

    regular: int
    backorder: int

    @property
    def total(self) -> int:
        return self.regular + self.backorder


@dataclass(frozen=True)
class Quote:
    sku_id: str
    qty: int
    region: str
    quoted_at: datetime
    orderable: bool
    label: Label
    regular_qty: int
    backorder_qty: int
    parts: tuple[QuotedPart, ...]
    available: Availability
    handling_days: int | None


def availability(levels: Sequence[Level], policy: Policy) -> Availability:
    backorder = sum(max(0, lv.free_backorder) for lv in levels) if policy.backorder_enabled else 0
    return Availability(available_to_promise(levels, policy), backorder)


def storefront_label(available: Availability) -> Label:
    """The label of one unit, what a product page shows (R25)."""
    if available.regular > 0:
        return IN_STOCK
    return ON_BACK_ORDER if available.backorder > 0 else OUT_OF_STOCK


def quote(sku_id: str, qty: int, buyer_region: str, at: datetime, *, levels: Sequence[Level], policy: Policy,
          seller: SellerTerms, dating: DatingPolicy) -> Quote:
    """The promise for ``qty`` units of a SKU to a buyer in ``buyer_region``, placed at ``at`` (R24)."""
    if qty <= 0:
        raise Rejection("invalid_quantity", f"quantity must be at least 1, got {qty}")
    available = availability(levels, policy)
    plan = plan_line(qty, levels, policy)
    if plan is None:
        if available.total > 0:
            raise Rejection("quantity_exceeds_stock",
                            f"{qty} units of {sku_id} asked, {available.regular} in stock and {available.backorder} "
                            f"on back order left")
        return Quote(sku_id, qty, buyer_region, at, False, OUT_OF_STOCK, 0, 0, (), available, policy.handling_days)
    parts = []
    for part in plan:
        dates = part_dates(dating, at, seller_region=seller.region, seller_timezone=seller.timezone,
                           buyer_region=buyer_region, source=part.source, handling_days=policy.handling_days)
        parts.append(QuotedPart(part.warehouse_id, part.source, part.qty, dates.ship_by, dates.estimated_delivery))
    backorder_qty = sum(p.qty for p in parts if p.source == BACKORDER)
    return Quote(sku_id, qty, buyer_region, at, True, ON_BACK_ORDER if backorder_qty else IN_STOCK,
                 qty - backorder_qty, backorder_qty, tuple(parts), available, policy.handling_days)


# ------------------------------------------------------------------ what a storefront shows (R25)


@dataclass(frozen=True)
class Shown:
    """What a storefront shows of a SKU: the label of one unit (orderable unless out of stock) and the
    handling time. A ``PromiseChanged`` goes out when, and only when, this changes."""

    label: Label
    handling_days: int | None

    @property
    def orderable(self) -> bool:
        return self.label != OUT_OF_STOCK


def shown(levels: Sequence[Level], policy: Policy) -> Shown:
    return Shown(storefront_label(availability(levels, policy)), policy.handling_days)


@dataclass(frozen=True)
class UnitPromise:
    """The promise of one unit at an instant, to a buyer in the seller's own region."""

    shown: Shown
    available: Availability
    dispatch_days: int | None
    ship_by: date | None
    estimated_delivery: date | None


def unit_promise(at: datetime, levels: Sequence[Level], policy: Policy, seller: SellerTerms,
                 dating: DatingPolicy) -> UnitPromise:
    now = shown(levels, policy)
    available = availability(levels, policy)
    if not now.orderable:
        return UnitPromise(now, available, None, None, None)
    source = BACKORDER if now.label == ON_BACK_ORDER else "regular"
    days = dating.dispatch_days(source, policy.handling_days)
    if not seller.region:
        return UnitPromise(now, available, days, None, None)
    dates = part_dates(dating, at, seller_region=seller.region, seller_timezone=seller.timezone,
                       buyer_region=seller.region, source=source, handling_days=policy.handling_days)
    return UnitPromise(now, available, days, dates.ship_by, dates.estimated_delivery)
