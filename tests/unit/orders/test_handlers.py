"""Orders handlers against in-memory fakes: what they store and emit, and what they refuse."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from services.orders import batch_handlers, handlers
from services.orders.views import StockStatus
from shared.cause import Cause
from shared.contract import catalog as cat
from shared.contract import inventory as inv
from shared.contract import orders as o
from shared.contract.envelope import Principal
from shared.domain import Rejection
from shared.messaging.decoding import Message
from tests.unit.orders.fakes import FakeUoW, FixedClock

PLACED = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)  # Monday 09:00 New York


@pytest.fixture
async def uow() -> FakeUoW:
    unit = FakeUoW(FixedClock(PLACED))
    await handlers.seller_registered(cat.SellerRegistered(seller_id="s1", region="US", timezone="America/New_York",
                                                          backorder_eligible=True), unit)
    await handlers.listing_upserted(cat.ListingUpserted(seller_id="s1", listing_id="L1", category="home", title="t",
                                                        sku_ids=["sku-a", "sku-b"]), unit)
    await handlers.backorder_activated(_activated("sku-a", 3), unit)
    return unit


def _activated(sku_id: str, days: int) -> cat.BackorderActivated:
    return cat.BackorderActivated(seller_id="s1", listing_id="L1", sku_id=sku_id, region="US",
                                  timezone="America/New_York", handling_days=days,
                                  backorder_stock=[cat.WarehouseQty(warehouse_id="wh-1", qty=10)])


def _place(order_id: str = "o1", lines: tuple[tuple[str, str, int], ...] = (("l1", "sku-a", 2), ("l2", "sku-b", 1)),
           buyer: str = "buyer-1") -> o.PlaceOrder:
    return o.PlaceOrder(order_id=order_id, buyer_id=buyer, buyer_email="b@example.com", region="US",
                        lines=[o.OrderLine(line_id=i, sku_id=s, qty=q) for i, s, q in lines])


def _allocated(order_id: str = "o1") -> inv.StockAllocated:
    return inv.StockAllocated(order_id=order_id, lines=[
        inv.AllocatedLine(line_id="l1", sku_id="sku-a", parts=[
            inv.AllocatedPart(warehouse_id="wh-1", source="regular", qty=1),
            inv.AllocatedPart(warehouse_id="wh-1", source="backorder", qty=1)]),
        inv.AllocatedLine(line_id="l2", sku_id="sku-b", parts=[
            inv.AllocatedPart(warehouse_id="wh-1", source="regular", qty=1)]),
    ])


async def _rejects(reason: str, handler: object, message: object, uow: FakeUoW) -> None:
    with pytest.raises(Rejection) as caught:
        await handler(message, uow)  # type: ignore[operator]
    assert caught.value.reason == reason


async def test_place_order_records_pending_and_emits_order_placed(uow: FakeUoW) -> None:
    await handlers.place_order(_place(), uow.acting_as("buyer", "buyer-1"))
    (placed,) = uow.take()
    assert isinstance(placed, o.OrderPlaced)
    assert placed.placed_at == PLACED
    assert placed.timezone == "America/New_York"  # from the region when the buyer gave none
    stored = uow.orders.orders["o1"]
    assert stored.status == "pending"
    assert [line.seller_id for line in stored.lines] == ["s1", "s1"]


async def test_place_order_dates_a_naive_clock_reading_as_utc(uow: FakeUoW) -> None:
    uow.clock.at = PLACED.replace(tzinfo=None)
    await handlers.place_order(_place(), uow)
    (placed,) = uow.take()
    assert placed.placed_at == PLACED and placed.placed_at.tzinfo is not None


async def test_place_order_again_is_a_no_op_and_a_different_one_is_duplicate_order(uow: FakeUoW) -> None:
    await handlers.place_order(_place(), uow)
    uow.take()
    await handlers.place_order(_place(), uow)
    assert uow.take() == []
    await _rejects("duplicate_order", handlers.place_order, _place(lines=(("l1", "sku-a", 5),)), uow)


async def test_place_order_principal_checks(uow: FakeUoW) -> None:
    await _rejects("forbidden", handlers.place_order, _place(), uow.acting_as("seller", "s1"))
    await _rejects("not_owner", handlers.place_order, _place(), uow.acting_as("buyer", "buyer-2"))
    assert uow.orders.orders == {}


async def test_r13_r14_stock_allocated_accepts_with_dated_parts_and_tag(uow: FakeUoW) -> None:
    await handlers.place_order(_place(), uow)
    uow.take()
    await handlers.stock_allocated(_allocated(), uow.acting_as("service", "inventory"))
    (accepted,) = uow.take()
    assert isinstance(accepted, o.OrderAccepted)
    assert (accepted.status, accepted.tags) == ("awaiting_shipment", ["back_order"])
    regular, backorder = accepted.lines[0].parts
    assert (regular.ship_by, backorder.ship_by) == (date(2026, 11, 25), date(2026, 11, 27))
    assert backorder.estimated_delivery == date(2026, 12, 4)  # US transit 5 business days
    assert uow.stock.exhausted_at == {"sku-a": PLACED}  # regular stock ran out, a backorder part was used
    await handlers.stock_allocated(_allocated(), uow)  # a repeated outcome changes nothing
    assert uow.take() == []


async def test_r14_unknown_sku_is_dated_with_the_buyers_region_and_the_fallback_handling(uow: FakeUoW) -> None:
    await handlers.place_order(_place(lines=(("l1", "sku-new", 1),)), uow)
    await handlers.stock_allocated(inv.StockAllocated(order_id="o1", lines=[inv.AllocatedLine(
        line_id="l1", sku_id="sku-new", parts=[inv.AllocatedPart(warehouse_id="w", source="backorder", qty=1)])]),
        uow)
    accepted = uow.take()[-1]
    assert accepted.lines[0].parts[0].ship_by == date(2026, 12, 15)  # 15 business days, Thanksgiving skipped


async def test_allocation_for_an_unknown_order_or_wrong_sku_is_refused(uow: FakeUoW) -> None:
    await _rejects("unknown_order", handlers.stock_allocated, _allocated("nope"), uow)
    await handlers.place_order(_place(lines=(("l1", "sku-b", 1), ("l2", "sku-b", 1))), uow)
    await _rejects("invalid_allocation", handlers.stock_allocated, _allocated(), uow)


async def test_r08_allocation_rejected_rejects_the_order(uow: FakeUoW) -> None:
    await handlers.place_order(_place(), uow)
    uow.take()
    await handlers.allocation_rejected(inv.AllocationRejected(order_id="o1", reason="out_of_stock",
                                                              line_ids=["l2"]), uow)
    (rejected,) = uow.take()
    assert isinstance(rejected, o.OrderRejected)
    assert (rejected.reason, rejected.line_ids, rejected.buyer_id) == (
        o.RejectionReason(code="out_of_stock", sku_ids=["sku-b"]), ["l2"], "buyer-1")
    assert set(uow.stock.exhausted_at) == {"sku-b"}


async def test_r11_release_with_the_same_receipt_twice_releases_once(uow: FakeUoW) -> None:
    await handlers.place_order(_place(lines=(("l1", "sku-a", 2),)), uow)
    await handlers.stock_allocated(inv.StockAllocated(order_id="o1", lines=[inv.AllocatedLine(
        line_id="l1", sku_id="sku-a", parts=[inv.AllocatedPart(warehouse_id="wh-1", source="backorder", qty=2)])]),
        uow)
    uow.take()
    release = inv.BackorderReleased(order_id="o1", line_id="l1", sku_id="sku-a", warehouse_id="wh-1", qty=1,
                                    receipt_id="r1")
    await handlers.backorder_released(release, uow)
    await handlers.backorder_released(release, uow)
    assert uow.take() == []  # one unit of two: not released yet
    assert uow.orders.orders["o1"].lines[0].waiting == 1
    await handlers.backorder_released(release.model_copy(update={"receipt_id": "r2"}), uow)
    (released,) = uow.take()
    assert isinstance(released, o.LinesReleased)
    assert released.lines[0].ship_by == date(2026, 11, 27)


async def test_rolling_backorder_extension_emits_backorder_delayed_once(uow: FakeUoW) -> None:
    await handlers.place_order(_place(), uow)
    await handlers.stock_allocated(_allocated(), uow)
    uow.take()
    await handlers.backorder_activated(_activated("sku-a", 3), uow)  # same handling time: nothing moves
    assert uow.take() == []
    await handlers.backorder_activated(_activated("sku-a", 6), uow)
    (delayed,) = uow.take()
    assert isinstance(delayed, o.BackorderDelayed)
    assert (delayed.previous_ship_by, delayed.ship_by) == (date(2026, 11, 27), date(2026, 12, 2))
    assert delayed.reason == "handling_time_extended"
    await handlers.backorder_activated(_activated("sku-a", 4), uow)  # shorter: the promise stands
    assert uow.take() == []


async def test_r17_cancel_emits_the_parts_to_give_back(uow: FakeUoW) -> None:
    await handlers.place_order(_place(), uow)
    await handlers.stock_allocated(_allocated(), uow)
    uow.take()
    await handlers.cancel_lines(o.CancelLines(order_id="o1", line_ids=["l1"]), uow.acting_as("buyer", "buyer-1"))
    cancelled, refund = uow.take()
    assert isinstance(cancelled, o.LinesCancelled)
    assert [(p.source, p.qty) for p in cancelled.lines[0].parts] == [("regular", 1), ("backorder", 1)]
    assert cancelled.status == "awaiting_shipment"
    assert isinstance(refund, o.RefundRequested)  # R30: the paid line is refunded
    await handlers.cancel_lines(o.CancelLines(order_id="o1", line_ids=["l1"]), uow)
    assert uow.take() == []


async def test_r30_every_cancelled_paid_line_requests_exactly_one_refund_whoever_cancels(uow: FakeUoW) -> None:
    await handlers.place_order(_place(), uow)
    await handlers.stock_allocated(_allocated(), uow)
    uow.take()
    await handlers.cancel_lines(o.CancelLines(order_id="o1", line_ids=["l1"], reason="seller_request"),
                                uow.acting_as("seller", "s1"))
    await handlers.cancel_lines(o.CancelLines(order_id="o1", line_ids=["l1", "l2"]), uow.acting_as("buyer", "buyer-1"))
    refunds = [e for e in uow.take() if isinstance(e, o.RefundRequested)]
    assert [(r.line_id, r.reason, r.detail) for r in refunds] == [
        ("l1", "line_cancelled", "seller_request"), ("l2", "line_cancelled", "buyer_request")]


async def test_r30_a_line_never_accepted_was_never_paid_and_is_not_refunded(uow: FakeUoW) -> None:
    await handlers.place_order(_place(), uow)
    uow.take()
    await handlers.cancel_lines(o.CancelLines(order_id="o1", line_ids=["l1"]), uow.acting_as("buyer", "buyer-1"))
    assert not [e for e in uow.take() if isinstance(e, o.RefundRequested)]


async def test_r18_replacement_is_refund_only_when_the_sku_is_on_backorder_or_out_of_stock(uow: FakeUoW) -> None:
    await handlers.place_order(_place(), uow)
    await handlers.stock_allocated(_allocated(), uow)
    await handlers.backorder_released(inv.BackorderReleased(order_id="o1", line_id="l1", sku_id="sku-a",
                                                            warehouse_id="wh-1", qty=1), uow)
    await handlers.ship_lines(o.ShipLines(order_id="o1", line_ids=["l1", "l2"], tracking_number="T"),
                              uow.acting_as("seller", "s1"))
    uow.take()
    buyer = uow.acting_as("buyer", "buyer-1")
    await handlers.request_replacement(o.RequestReplacement(order_id="o1", line_id="l1"), buyer)
    (refund,) = uow.take()
    assert isinstance(refund, o.RefundRequested)
    assert (refund.reason, refund.detail) == ("replacement_unavailable", "sku_on_backorder")
    # sku-b is regular; a level with stock says it can be replaced
    await batch_handlers.inventory_events([_level("sku-b", 5, PLACED + timedelta(minutes=1))], uow)
    await handlers.request_replacement(o.RequestReplacement(order_id="o1", line_id="l2"), buyer)
    (replacement,) = uow.take()
    assert isinstance(replacement, o.ReplacementAccepted)


def _level(sku_id: str, atp: int, at: datetime, wh: str = "wh-1",
           sku_atp: int | None = None) -> Message[inv.StockChanged]:
    payload = inv.StockChanged(
        sku_id=sku_id, warehouse_id=wh, on_hand=atp, allocated=0, backorder_limit=0, backorder_allocated=0,
        available_to_promise=atp, total=atp, sku_available_to_promise=atp if sku_atp is None else sku_atp,
        sku_total=atp,
    )
    return Message(payload, Cause(uuid.uuid4(), uuid.uuid4(), Principal(kind="service", id="inventory"),
                                  "StockChanged", at))


T0 = datetime(2026, 11, 23, tzinfo=UTC)


@pytest.mark.parametrize(
    ("atp", "levels_at", "exhausted_at", "out"),
    [
        (None, None, None, False),  # never heard of: not known to be out of stock
        (5, T0, None, False),
        (0, T0, None, True),
        (-1, T0, None, True),  # over-allocated
        (5, T0, T0 + timedelta(seconds=1), True),  # a backorder allocation after the last level
        (5, T0 + timedelta(seconds=1), T0, False),  # a level after the last exhaustion
        (None, None, T0, True),
    ],
)
def test_r18_out_of_stock_is_the_latest_stock_signal(atp: int | None, levels_at: datetime | None,
                                                     exhausted_at: datetime | None, out: bool) -> None:
    assert StockStatus(atp, levels_at, exhausted_at).out_of_stock is out


async def test_r18_sku_wide_level_wins_over_warehouse_levels(uow: FakeUoW) -> None:
    # this warehouse has 3 free units, but the SKU's safety stock leaves nothing to promise
    await batch_handlers.inventory_events([_level("sku-x", 3, T0, sku_atp=0)], uow)
    status = await uow.stock.status("sku-x")
    assert status.available_to_promise == 0 and status.out_of_stock
