"""R29 re-dating and R30 auto-cancel (``services/orders/supply.py``) against in-memory fakes, on a fixed clock.

The order: one line of two backorder units of sku-a (3 handling days, seller in New York), placed Monday
2026-11-23 09:00 local, so promised to ship by Friday 2026-11-27 (Thanksgiving skipped) and arrive by
Friday 2026-12-04 (US transit: 5 business days). Every date below is counted from there.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from services.orders import handlers, supply
from shared.contract import catalog as cat
from shared.contract import inventory as inv
from shared.contract import orders as o
from tests.unit.orders.fakes import FakeUoW, FixedClock

PLACED = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)  # Monday 09:00 New York
PROMISED, DELIVERY = date(2026, 11, 27), date(2026, 12, 4)


@pytest.fixture
async def uow() -> FakeUoW:
    unit = FakeUoW(FixedClock(PLACED))
    await handlers.seller_registered(cat.SellerRegistered(seller_id="s1", region="US", timezone="America/New_York",
                                                          backorder_eligible=True), unit)
    await handlers.listing_upserted(cat.ListingUpserted(seller_id="s1", listing_id="L1", category="home", title="t",
                                                        sku_ids=["sku-a"]), unit)
    await handlers.backorder_activated(cat.BackorderActivated(
        seller_id="s1", listing_id="L1", sku_id="sku-a", region="US", timezone="America/New_York", handling_days=3,
        backorder_stock=[cat.WarehouseQty(warehouse_id="wh-1", qty=10)]), unit)
    await handlers.place_order(o.PlaceOrder(order_id="o1", buyer_id="buyer-1", buyer_email="b@example.com",
                                            region="US", lines=[o.OrderLine(line_id="l1", sku_id="sku-a", qty=2)]),
                               unit)
    await handlers.stock_allocated(inv.StockAllocated(order_id="o1", lines=[inv.AllocatedLine(
        line_id="l1", sku_id="sku-a", parts=[inv.AllocatedPart(warehouse_id="wh-1", source="backorder", qty=2)])]),
        unit)
    unit.take()
    return unit


def _projected(on: date | None, warehouse_id: str = "wh-1") -> inv.BackorderProjected:
    return inv.BackorderProjected(sku_id="sku-a", parts=[inv.ProjectedPart(
        order_id="o1", line_id="l1", part_no=0, warehouse_id=warehouse_id, qty=2, projected_on=on,
        inbound_id=None if on is None else "po-1")])


async def _policy(uow: FakeUoW, days: int | None, second_slip: bool) -> None:
    await supply.auto_cancel_policy_set(cat.AutoCancelPolicySet(seller_id="s1", max_days_late=days,
                                                                cancel_at_second_slip=second_slip), uow)


def _stored(uow: FakeUoW) -> tuple[date, date, datetime | None, str]:
    line = uow.orders.orders["o1"].lines[0]
    (part,) = line.parts
    return part.ship_by, part.estimated_delivery, line.due_at, line.state


def _of(uow: FakeUoW, kind: type) -> list:  # type: ignore[type-arg]
    return [e.payload for e in uow.emitted if isinstance(e.payload, kind)]


async def test_r29_the_promise_as_accepted_is_the_baseline(uow: FakeUoW) -> None:
    assert _stored(uow) == (PROMISED, DELIVERY, datetime(2026, 11, 28, 5, 0, tzinfo=UTC), "awaiting_stock")


async def test_r29_a_late_arrival_re_dates_to_its_next_business_day_and_moves_the_sla_deadline(uow: FakeUoW) -> None:
    await supply.backorder_projected(_projected(date(2026, 12, 5)), uow)  # a Saturday

    (delayed,) = uow.take()
    assert isinstance(delayed, o.BackorderDelayed)
    assert (delayed.previous_ship_by, delayed.ship_by) == (PROMISED, date(2026, 12, 7))  # Monday, no handling added
    assert (delayed.previous_estimated_delivery, delayed.estimated_delivery) == (DELIVERY, date(2026, 12, 14))
    assert (delayed.reason, delayed.projected_on, delayed.cancellable) == ("inbound_late", date(2026, 12, 5), True)
    # stored: the line turns late at the end of its new ship-by in New York (05:00 UTC), not the old one
    assert _stored(uow) == (date(2026, 12, 7), date(2026, 12, 14), datetime(2026, 12, 8, 5, 0, tzinfo=UTC),
                            "awaiting_stock")


async def test_r29_an_arrival_on_the_promised_day_or_before_keeps_the_promise(uow: FakeUoW) -> None:
    for on in (date(2026, 11, 25), PROMISED):
        await supply.backorder_projected(_projected(on), uow)
    assert uow.take() == []
    assert _stored(uow)[:2] == (PROMISED, DELIVERY)


async def test_r29_the_same_projection_again_tells_nobody_twice(uow: FakeUoW) -> None:
    await supply.backorder_projected(_projected(date(2026, 12, 10)), uow)
    await supply.backorder_projected(_projected(date(2026, 12, 10)), uow)
    await supply.backorder_projected(_projected(date(2026, 12, 8)), uow)  # earlier than re-dated: dates stay
    assert [(d.ship_by, d.estimated_delivery) for d in _of(uow, o.BackorderDelayed)] == [
        (date(2026, 12, 10), date(2026, 12, 17))]
    assert _stored(uow)[:2] == (date(2026, 12, 10), date(2026, 12, 17))


async def test_r29_a_projection_of_another_warehouse_or_line_moves_nothing(uow: FakeUoW) -> None:
    await supply.backorder_projected(_projected(date(2026, 12, 10), warehouse_id="wh-2"), uow)
    await supply.backorder_projected(inv.BackorderProjected(sku_id="sku-a", parts=[inv.ProjectedPart(
        order_id="o1", line_id="l9", part_no=0, warehouse_id="wh-1", qty=2, projected_on=date(2026, 12, 10),
        inbound_id="po-1")]), uow)
    assert uow.take() == []
    assert _stored(uow)[:2] == (PROMISED, DELIVERY)


async def test_r29_a_smaller_inbound_that_leaves_the_line_uncovered_flags_it_without_re_dating(
        uow: FakeUoW) -> None:
    await supply.backorder_projected(_projected(None), uow)

    (flag,) = uow.take()
    assert isinstance(flag, o.BackorderUncovered)
    assert (flag.order_id, flag.line_id, flag.seller_id, flag.warehouse_id, flag.ship_by) == (
        "o1", "l1", "s1", "wh-1", PROMISED)
    assert _stored(uow)[:2] == (PROMISED, DELIVERY)


async def test_r29_a_smaller_inbound_that_leaves_the_line_to_a_later_one_re_dates_it(uow: FakeUoW) -> None:
    await supply.backorder_projected(_projected(date(2026, 11, 26)), uow)  # in time
    await supply.backorder_projected(_projected(date(2026, 12, 16)), uow)  # its last unit now on a later inbound
    (delayed,) = uow.take()
    assert (delayed.ship_by, delayed.estimated_delivery) == (date(2026, 12, 16), date(2026, 12, 23))


# ------------------------------------------------------------------ R30


@pytest.mark.parametrize(("policy", "slips", "ship_by", "cancel"), [
    ((None, False), 5, date(2027, 3, 1), False),  # off
    ((10, False), 1, date(2026, 12, 7), False),  # 10 days late: not more than 10
    ((10, False), 1, date(2026, 12, 8), True),  # 11 days late
    ((10, False), 2, date(2026, 12, 7), False),  # a second slip alone does not cancel without the flag
    ((None, True), 1, date(2027, 3, 1), False),  # the first slip, however late
    ((None, True), 2, date(2026, 11, 28), True),
    ((None, True), 3, date(2026, 11, 28), True),
])
def test_r30_should_cancel(policy: tuple[int | None, bool], slips: int, ship_by: date, cancel: bool) -> None:
    assert supply.should_cancel(policy, slips, PROMISED, ship_by) is cancel


async def test_r30_late_by_more_than_the_policys_days_cancels_at_the_first_slip_and_refunds_once(
        uow: FakeUoW) -> None:
    await _policy(uow, 10, False)
    await supply.backorder_projected(_projected(date(2026, 12, 8)), uow)  # 11 days after the promise

    cancelled, refund = uow.take()
    assert isinstance(cancelled, o.LinesCancelled) and isinstance(refund, o.RefundRequested)
    assert (cancelled.reason, [line.line_id for line in cancelled.lines]) == ("auto_cancel_policy", ["l1"])
    assert (refund.line_id, refund.reason, refund.detail) == ("l1", "line_cancelled", "auto_cancel_policy")
    assert _stored(uow)[3] == "cancelled"
    await supply.backorder_projected(_projected(date(2026, 12, 20)), uow)  # a cancelled line does not slip again
    assert uow.take() == []


async def test_r30_exactly_the_policys_days_late_re_dates_and_does_not_cancel(uow: FakeUoW) -> None:
    await _policy(uow, 10, False)
    await supply.backorder_projected(_projected(date(2026, 12, 7)), uow)  # 10 days after the promise
    assert uow.types() == ["BackorderDelayed"]
    assert _stored(uow)[::3] == (date(2026, 12, 7), "awaiting_stock")


async def test_r30_days_late_count_from_the_first_promise_not_the_previous_ship_by(uow: FakeUoW) -> None:
    await _policy(uow, 10, False)
    await supply.backorder_projected(_projected(date(2026, 12, 4)), uow)  # 7 days late: re-dated
    assert uow.types() == ["BackorderDelayed"]
    await supply.backorder_projected(_projected(date(2026, 12, 9)), uow)  # 12 after the promise, 5 after 12-04
    assert uow.types() == ["BackorderDelayed", "LinesCancelled", "RefundRequested"]
    assert uow.orders.slips[("o1", "l1")] == (2, PROMISED)


async def test_r30_without_the_second_slip_flag_a_second_slip_only_re_dates(uow: FakeUoW) -> None:
    await _policy(uow, 30, False)
    await supply.backorder_projected(_projected(date(2026, 12, 1)), uow)
    await supply.backorder_projected(_projected(date(2026, 12, 3)), uow)
    assert uow.types() == ["BackorderDelayed", "BackorderDelayed"]
    assert _stored(uow)[::3] == (date(2026, 12, 3), "awaiting_stock")


async def test_r30_the_second_slip_cancels_when_the_policy_says_so(uow: FakeUoW) -> None:
    await _policy(uow, None, True)
    await supply.backorder_projected(_projected(date(2027, 1, 29)), uow)  # the first slip, two months late
    await supply.backorder_projected(_projected(date(2027, 2, 1)), uow)
    assert uow.types() == ["BackorderDelayed", "LinesCancelled", "RefundRequested"]
    assert len(_of(uow, o.RefundRequested)) == 1
