"""R23: the KPI arithmetic, including the empty cases a new seller starts with."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.orders.kpis import KpiCounts, kpis


def counts(**kw: float) -> KpiCounts:
    base = {"seller_id": "s", "orders": 0, "backordered_orders": 0, "filled_orders": 0, "lines": 0,
            "backordered_lines": 0, "late_lines": 0, "cancelled_lines": 0, "open_backorder_age_days": 0.0}
    return KpiCounts(**{**base, **kw})  # type: ignore[arg-type]


def test_r23_a_seller_without_orders_has_zero_rates_not_errors() -> None:
    figures = kpis(counts())
    assert (figures.backorder_rate, figures.fill_rate, figures.late_shipment_rate, figures.cancellation_rate) == (
        0.0, 0.0, 0.0, 0.0)


def test_r23_rates_are_the_documented_ratios() -> None:
    figures = kpis(counts(orders=8, backordered_orders=2, filled_orders=6, lines=10, backordered_lines=4,
                          late_lines=1, cancelled_lines=3, open_backorder_age_days=2.345))
    assert figures.backorder_rate == 0.25 and figures.fill_rate == 0.75
    assert figures.late_shipment_rate == 0.25 and figures.cancellation_rate == 0.3
    assert figures.average_backorder_age_days == 2.35


COUNT = st.integers(-1, 30)  # small, so that parts often equal, exceed or fall short of their wholes


@given(COUNT, COUNT, COUNT, COUNT, COUNT, COUNT, COUNT)
def test_r23_every_rate_is_between_zero_and_one(orders: int, backordered_orders: int, filled_orders: int, lines: int,
                                                backordered_lines: int, late_lines: int,
                                                cancelled_lines: int) -> None:
    """Each count drawn on its own: counts that can occur give rates in [0, 1]; others are refused."""
    values = dict(orders=orders, backordered_orders=backordered_orders, filled_orders=filled_orders, lines=lines,
                  backordered_lines=backordered_lines, late_lines=late_lines, cancelled_lines=cancelled_lines)
    possible = (min(values.values()) >= 0 and backordered_orders <= orders and filled_orders <= orders
                and backordered_lines <= lines and late_lines <= backordered_lines and cancelled_lines <= lines)
    if not possible:
        with pytest.raises(ValueError):
            counts(**values)
        return
    figures = kpis(counts(**values))
    for rate in (figures.backorder_rate, figures.fill_rate, figures.late_shipment_rate, figures.cancellation_rate):
        assert 0.0 <= rate <= 1.0
