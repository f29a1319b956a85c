"""R23, R33: the KPI arithmetic, including the empty cases a new seller starts with, and the lost demand
the rejection handlers record."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.orders import handlers
from services.orders.kpis import KpiCounts, LostDemand, kpis
from services.orders.views import LostLine
from shared.contract import catalog as cat
from shared.contract import inventory as inv
from shared.contract import orders as o
from tests.unit.orders.fakes import FakeUoW, FixedClock


def counts(**kw: float) -> KpiCounts:
    base = {"seller_id": "s", "orders": 0, "backordered_orders": 0, "filled_orders": 0, "lines": 0,
            "backordered_lines": 0, "late_lines": 0, "cancelled_lines": 0, "open_backorder_age_days": 0.0,
            "closed_orders": 0, "cancelled_backordered_lines": 0, "lost_orders": 0, "lost_units": 0}
    return KpiCounts(**{**base, **kw})  # type: ignore[arg-type]


def test_r23_a_seller_without_orders_has_zero_rates_not_errors() -> None:
    figures = kpis(counts())
    assert (figures.backorder_rate, figures.fill_rate, figures.late_shipment_rate, figures.cancellation_rate,
            figures.backorder_cancellation_rate) == (0.0, 0.0, 0.0, 0.0, 0.0)


def test_r23_rates_are_the_documented_ratios() -> None:
    figures = kpis(counts(orders=8, backordered_orders=2, closed_orders=8, filled_orders=6, lines=10,
                          backordered_lines=4, late_lines=1, cancelled_lines=3, open_backorder_age_days=2.345))
    assert figures.backorder_rate == 0.25 and figures.fill_rate == 0.75
    assert figures.late_shipment_rate == 0.25 and figures.cancellation_rate == 0.3
    assert figures.average_backorder_age_days == 2.35


COUNT = st.integers(-1, 30)  # small, so that parts often equal, exceed or fall short of their wholes


@given(st.fixed_dictionaries({name: COUNT for name in (
    "orders", "backordered_orders", "closed_orders", "filled_orders", "lines", "backordered_lines", "late_lines",
    "cancelled_lines", "cancelled_backordered_lines", "lost_orders", "lost_units")}))
def test_r23_every_rate_is_between_zero_and_one(values: dict[str, int]) -> None:
    """Each count drawn on its own: counts that can occur give rates in [0, 1]; others are refused."""
    v = values
    possible = (min(v.values()) >= 0 and v["backordered_orders"] <= v["orders"]
                and v["closed_orders"] <= v["orders"] and v["filled_orders"] <= v["closed_orders"]
                and v["backordered_lines"] <= v["lines"] and v["late_lines"] <= v["backordered_lines"]
                and v["cancelled_lines"] <= v["lines"]
                and v["cancelled_backordered_lines"] <= min(v["backordered_lines"], v["cancelled_lines"])
                and v["lost_orders"] <= v["lost_units"])
    if not possible:
        with pytest.raises(ValueError):
            counts(**values)
        return
    figures = kpis(counts(**values))
    for rate in (figures.backorder_rate, figures.fill_rate, figures.late_shipment_rate, figures.cancellation_rate,
                 figures.backorder_cancellation_rate):
        assert 0.0 <= rate <= 1.0


def test_r33_fill_rate_over_closed_orders_only() -> None:
    """10 orders, 4 closed (nothing left to ship), 3 of them filled: 3/4. The 6 open ones count in neither."""
    figures = kpis(counts(orders=10, closed_orders=4, filled_orders=3, lines=10))
    assert figures.fill_rate == 0.75 and figures.closed_orders == 4
    assert kpis(counts(orders=10, lines=10)).fill_rate == 0.0  # nothing closed yet: 0, not an error
    with pytest.raises(ValueError):
        counts(orders=10, closed_orders=2, filled_orders=3, lines=10)  # a filled order is closed


def test_r33_cancellation_rate_of_backordered_lines() -> None:
    """10 lines, 4 backordered, 5 cancelled of which 1 backordered: backorder cancellation rate 1/4, while the
    general cancellation rate (R23) stays 5/10."""
    figures = kpis(counts(orders=5, lines=10, backordered_lines=4, cancelled_lines=5, cancelled_backordered_lines=1))
    assert figures.backorder_cancellation_rate == 0.25 and figures.cancellation_rate == 0.5
    with pytest.raises(ValueError):
        counts(orders=5, lines=10, backordered_lines=1, cancelled_lines=5, cancelled_backordered_lines=2)


# ------------------------------------------------------------------ lost demand, recorded by the handlers

PLACED = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)


async def _shop() -> FakeUoW:
    unit = FakeUoW(FixedClock(PLACED))
    for seller, listing, skus in (("s1", "L1", ["sku-a", "sku-b"]), ("s2", "L2", ["sku-c"])):
        await handlers.seller_registered(cat.SellerRegistered(seller_id=seller, region="US",
                                                              timezone="America/New_York", backorder_eligible=True),
                                         unit)
        await handlers.listing_upserted(cat.ListingUpserted(seller_id=seller, listing_id=listing, category="home",
                                                            title="t", sku_ids=skus), unit)
    return unit


async def _place(unit: FakeUoW, order_id: str, *lines: tuple[str, str, int]) -> None:
    await handlers.place_order(o.PlaceOrder(order_id=order_id, buyer_id="b1", buyer_email="b@example.com",
                                            region="US",
                                            lines=[o.OrderLine(line_id=i, sku_id=s, qty=q) for i, s, q in lines]),
                               unit)


async def test_r33_lost_demand_counts_orders_and_units_rejected_out_of_stock_per_sku_and_seller() -> None:
    unit = await _shop()
    await _place(unit, "o1", ("l1", "sku-a", 2), ("l2", "sku-b", 3), ("l3", "sku-c", 4))
    await _place(unit, "o2", ("l1", "sku-a", 1))
    await _place(unit, "o3", ("l1", "sku-b", 7))
    # o1: sku-b and sku-c lacked stock; sku-a had some: its line is rejected with the order but is not lost demand
    await handlers.allocation_rejected(inv.AllocationRejected(order_id="o1", reason="out_of_stock",
                                                              line_ids=["l2", "l3"]), unit)
    # a rejection naming no line: every line of the order lacked stock
    await handlers.allocation_rejected(inv.AllocationRejected(order_id="o2", reason="out_of_stock", line_ids=[]),
                                       unit)
    # not for lack of stock: no lost demand
    await handlers.allocation_rejected(inv.AllocationRejected(order_id="o3", reason="invalid_order", line_ids=[]),
                                       unit)
    # the same outcome again changes nothing
    await handlers.allocation_rejected(inv.AllocationRejected(order_id="o1", reason="out_of_stock",
                                                              line_ids=["l1", "l2", "l3"]), unit)
    assert sorted(unit.orders.lost.values(), key=lambda x: (x.order_id, x.line_id)) == [
        LostLine("o1", "l2", "sku-b", "s1", 3, PLACED), LostLine("o1", "l3", "sku-c", "s2", 4, PLACED),
        LostLine("o2", "l1", "sku-a", "s1", 1, PLACED)]
    with pytest.raises(ValueError):
        LostDemand("s1", "sku-a", orders=2, units=1)  # every lost order turned away at least one unit
