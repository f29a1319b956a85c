"""R23: the KPI arithmetic, including the empty cases a new seller starts with."""

from __future__ import annotations

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


@given(st.integers(1, 10_000), st.data())
def test_r23_every_rate_is_between_zero_and_one(orders: int, data: st.DataObject) -> None:
    lines = data.draw(st.integers(orders, 3 * orders))
    backordered_lines = data.draw(st.integers(0, lines))
    figures = kpis(counts(
        orders=orders, backordered_orders=data.draw(st.integers(0, orders)),
        filled_orders=data.draw(st.integers(0, orders)), lines=lines, backordered_lines=backordered_lines,
        late_lines=data.draw(st.integers(0, backordered_lines)), cancelled_lines=data.draw(st.integers(0, lines)),
    ))
    for rate in (figures.backorder_rate, figures.fill_rate, figures.late_shipment_rate, figures.cancellation_rate):
        assert 0.0 <= rate <= 1.0
