"""Exact outcomes of the order aggregate where the rule examples leave room: who may act (R06a), which
shipment a delivery names (R16), how a restock's units are shared out (R11), how a longer handling time
re-dates (rolling backorder), and why a line cannot ship, by reason. Fixed clock, dates to the day."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from services.orders import domain
from services.orders.domain import Actor, Order, SkuTerms
from services.orders.lines import AllocatedQty
from shared.dates import DatingPolicy, deadline
from shared.domain import Rejection
from shared.regions import zone

PLACED = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)  # Monday 09:00 New York
NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
BUYER, STRANGER = Actor("buyer", "buyer-1"), Actor("buyer", "buyer-2")
SELLER = Actor("seller", "seller-1")


def terms(sku_id: str) -> SkuTerms:
    if sku_id.startswith("la"):  # a seller in Los Angeles: its own region and zone date its lines
        return SkuTerms("seller-1", "US", "America/Los_Angeles", handling_days=3)
    return SkuTerms("seller-1", "US", "America/New_York", handling_days=3)


def order_of(allocation: dict[str, list[AllocatedQty]], *lines: tuple[str, str, int],
             placed_at: datetime = PLACED) -> Order:
    order = domain.place(order_id="o-1", buyer_id="buyer-1", buyer_email="b@example.com", region="US",
                         locale="en_US", timezone="America/New_York", placed_at=placed_at, lines=list(lines),
                         sellers={})
    assert order.accept(allocation, terms, DatingPolicy(), NOW) is not None
    return order


def reason_of(fn: object, *args: object, **kwargs: object) -> str:
    with pytest.raises(Rejection) as caught:
        fn(*args, **kwargs)  # type: ignore[operator]
    return caught.value.reason


def test_r06a_a_seller_places_no_order_and_a_buyer_only_its_own() -> None:
    assert reason_of(domain.check_may_place, SELLER, "buyer-1") == "forbidden"
    assert reason_of(domain.check_may_place, STRANGER, "buyer-1") == "not_owner"
    domain.check_may_place(BUYER, "buyer-1")
    domain.check_may_place(None, "buyer-1")


def test_r16_a_delivery_names_its_shipment_and_only_its_buyer_or_seller_confirms_it() -> None:
    order = order_of({"l1": [AllocatedQty("wh-1", "regular", 1)], "l2": [AllocatedQty("wh-1", "regular", 1)]},
                     ("l1", "sku-a", 1), ("l2", "sku-b", 1))
    order.ship(["l1"], "T-1", NOW, SELLER)
    order.ship(["l2"], "T-2", NOW, SELLER)

    assert reason_of(order.deliver, "T-3", NOW, BUYER) == "unknown_shipment"
    assert reason_of(order.deliver, "T-1", NOW, STRANGER) == "not_owner"
    assert [line.line_id for line in order.deliver("T-1", NOW, BUYER)] == ["l1"]
    assert [(line.state, line.delivered_at) for line in order.lines] == [("delivered", NOW), ("shipped", None)]
    assert order.deliver("T-1", NOW, BUYER) == []  # recorded already


def test_r18_only_the_orders_buyer_or_seller_asks_for_a_replacement() -> None:
    order = order_of({"l1": [AllocatedQty("wh-1", "regular", 1)]}, ("l1", "sku-a", 1))
    order.ship(["l1"], "T-1", NOW, SELLER)
    assert reason_of(order.request_replacement, "l1", STRANGER, on_backorder=False, out_of_stock=False) == \
        "not_owner"


def test_r11_a_restock_fills_the_parts_of_its_warehouse_in_turn() -> None:
    order = order_of({"l1": [AllocatedQty("wh-1", "backorder", 2), AllocatedQty("wh-2", "backorder", 1),
                             AllocatedQty("wh-1", "backorder", 3)]}, ("l1", "sku-a", 6))
    assert order.release("l1", "wh-1", 3) is None
    assert [p.released_qty for p in order.lines[0].parts] == [2, 0, 1]  # the first wh-1 part, then the next
    assert reason_of(order.release, "l1", "wh-1", 3) == "release_exceeds_backorder"  # 2 still wait there
    assert order.release("l1", "wh-1", 2) is None
    line = order.release("l1", "wh-2", 1)
    assert line is not None and line.state == "ready_to_ship"
    assert [p.released_qty for p in line.parts] == [2, 1, 3]


def test_rolling_backorder_re_dates_every_waiting_line_in_its_sellers_zone_and_moves_its_deadline() -> None:
    # placed Monday 11:30 in Los Angeles, 14:30 in New York: after New York's cut-off, before Los Angeles'
    order = order_of({"l1": [AllocatedQty("wh-1", "backorder", 1)], "l2": [AllocatedQty("wh-1", "regular", 1)],
                      "l3": [AllocatedQty("wh-1", "backorder", 1)]},
                     ("l1", "other-sku", 1), ("l2", "la-sku", 1), ("l3", "la-sku", 1),
                     placed_at=datetime(2026, 11, 23, 19, 30, tzinfo=UTC))
    assert order.lines[2].parts[0].ship_by == date(2026, 11, 27)  # 3 business days from Monday, Thanksgiving

    delays = order.extend_handling("la-sku", 5, DatingPolicy())

    (delay,) = delays  # l1 is another SKU, l2 ready to ship: only l3 moves
    assert (delay.line.line_id, delay.previous_ship_by, delay.ship_by) == ("l3", date(2026, 11, 27),
                                                                           date(2026, 12, 1))
    assert (delay.previous_estimated_delivery, delay.estimated_delivery) == (date(2026, 12, 4), date(2026, 12, 8))
    line = order.lines[2]
    assert (line.handling_days, line.due_at) == (5, deadline(date(2026, 12, 1), zone("America/Los_Angeles", "US")))
    assert line.due_at == datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
    assert order.extend_handling("la-sku", 5, DatingPolicy()) == []  # the same handling time again moves nothing


def test_rolling_backorder_re_dates_a_line_after_one_that_does_not_move() -> None:
    order = order_of({"l1": [AllocatedQty("wh-1", "backorder", 1)], "l2": [AllocatedQty("wh-1", "backorder", 1)]},
                     ("l1", "la-sku", 1), ("l2", "la-sku", 1))
    order.lines[0].parts[0].ship_by = date(2026, 12, 31)  # already later than the new handling time dates it
    assert [d.line.line_id for d in order.extend_handling("la-sku", 5, DatingPolicy())] == ["l2"]


def test_rolling_backorder_dates_a_line_of_an_unknown_seller_in_the_buyers_region() -> None:
    def unknown(sku_id: str) -> SkuTerms:
        return SkuTerms(None, "", "", handling_days=None)

    order = domain.place(order_id="o-1", buyer_id="buyer-1", buyer_email="b@example.com", region="US",
                         locale="en_US", timezone="America/New_York", placed_at=PLACED,
                         lines=[("l1", "sku-x", 1)], sellers={})
    assert order.accept({"l1": [AllocatedQty("wh-1", "backorder", 1)]}, unknown, DatingPolicy(), NOW) is not None
    # 15 business days when the handling time is not known, due at midnight in New York, the US's zone
    assert order.lines[0].due_at == datetime(2026, 12, 16, 5, 0, tzinfo=UTC)
    (delay,) = order.extend_handling("sku-x", 20, DatingPolicy())
    assert delay.ship_by == date(2026, 12, 22)  # 20 business days in the US: Thanksgiving skipped
    assert order.lines[0].due_at == datetime(2026, 12, 23, 5, 0, tzinfo=UTC)  # New York, the US's zone


def test_r06a_another_seller_neither_confirms_delivery_nor_asks_a_replacement() -> None:
    order = order_of({"l1": [AllocatedQty("wh-1", "regular", 1)]}, ("l1", "sku-a", 1))
    order.ship(["l1"], "T-1", NOW, SELLER)
    other = Actor("seller", "seller-2")
    assert reason_of(order.deliver, "T-1", NOW, other) == "not_owner"
    assert reason_of(order.request_replacement, "l1", other, on_backorder=False, out_of_stock=False) == "not_owner"


@pytest.mark.parametrize(("state", "reason", "message"), [
    ("shipped", "already_shipped", "line l1 was shipped already"),
    ("cancelled", "line_cancelled", "line l1 is cancelled"),
    ("rejected", "order_rejected", "order o-1 was rejected"),
    ("pending", "not_accepted", "order o-1 is not accepted yet"),
    ("awaiting_stock", "awaiting_stock", "line l1 waits for 1 backordered units to be restocked")])
def test_r16_why_a_line_cannot_ship(state: str, reason: str, message: str) -> None:
    order = order_of({"l1": [AllocatedQty("wh-1", "backorder", 1)]}, ("l1", "sku-a", 1))
    line = order.lines[0]
    line.state = state  # type: ignore[assignment]
    with pytest.raises(Rejection) as refused:
        line.check_shippable("o-1", None)
    assert (refused.value.reason, refused.value.message) == (reason, message)


def test_r27_a_partial_shipment_is_at_most_the_units_left_and_only_units_in_stock() -> None:
    order = order_of({"l1": [AllocatedQty("wh-1", "regular", 2), AllocatedQty("wh-1", "backorder", 1)]},
                     ("l1", "sku-a", 3))
    order.ship([], "T-1", NOW, SELLER, {"l1": 1})
    line = order.lines[0]
    with pytest.raises(Rejection) as refused:
        line.check_shippable("o-1", 3)
    assert (refused.value.reason, refused.value.message) == ("exceeds_line", "line l1 has 2 units left to ship, not 3")
    with pytest.raises(Rejection) as refused:
        line.check_shippable("o-1", 2)
    assert (refused.value.reason, refused.value.message) == (
        "not_released", "line l1 has 1 units in stock to ship; the rest wait for a restock")
    line.check_shippable("o-1", 1)


def test_r13_an_allocation_must_name_every_line_with_parts_of_at_least_one_unit() -> None:
    order = domain.place(order_id="o-1", buyer_id="buyer-1", buyer_email="b@example.com", region="US",
                         locale="en_US", timezone="America/New_York", placed_at=PLACED,
                         lines=[("l1", "sku-a", 2)], sellers={})
    with pytest.raises(Rejection) as refused:
        order.accept({"l1": [AllocatedQty("wh-1", "regular", 2), AllocatedQty("wh-2", "regular", 0)]}, terms,
                     DatingPolicy(), NOW)
    assert (refused.value.reason, refused.value.message) == ("invalid_allocation",
                                                             "line l1: parts do not add up to 2")
    with pytest.raises(Rejection) as refused:
        order.accept({"l9": [AllocatedQty("wh-1", "regular", 2)]}, terms, DatingPolicy(), NOW)
    assert refused.value.message == "allocation names lines ['l9'], order has ['l1']"


def test_r15_an_accepted_backorder_line_is_due_at_the_end_of_its_ship_by_in_its_sellers_zone() -> None:
    order = order_of({"l1": [AllocatedQty("wh-1", "backorder", 1)]}, ("l1", "la-sku", 1))
    assert (order.lines[0].parts[0].ship_by, order.lines[0].due_at) == (
        date(2026, 11, 27), datetime(2026, 11, 28, 8, 0, tzinfo=UTC))  # midnight in Los Angeles


def test_r26_a_line_without_parts_has_no_dates() -> None:
    order = domain.place(order_id="o-1", buyer_id="buyer-1", buyer_email="b@example.com", region="US",
                         locale="en_US", timezone="America/New_York", placed_at=PLACED,
                         lines=[("l1", "sku-a", 1)], sellers={})
    assert order.lines[0].dates() is None


def test_r08_a_rejection_keeps_its_reason_and_when() -> None:
    order = domain.place(order_id="o-1", buyer_id="buyer-1", buyer_email="b@example.com", region="US",
                         locale="en_US", timezone="America/New_York", placed_at=PLACED,
                         lines=[("l1", "sku-a", 1)], sellers={})
    assert [line.line_id for line in order.reject("out_of_stock", NOW) or []] == ["l1"]
    assert (order.reject_reason, order.decided_at, order.status) == ("out_of_stock", NOW, "rejected")
    assert reason_of(order.line, "l9") == "unknown_line"


def test_r27_the_last_units_of_a_split_line_ship_it_at_that_time() -> None:
    order = order_of({"l1": [AllocatedQty("wh-1", "regular", 2)]}, ("l1", "sku-a", 2))
    order.ship([], "T-1", NOW, SELLER, {"l1": 1})
    assert (order.lines[0].state, order.lines[0].shipped_at) == ("ready_to_ship", None)
    later = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
    order.ship([], "T-2", later, SELLER, {"l1": 1})
    line = order.lines[0]
    assert (line.state, line.shipped_at, line.tracking_number, line.shipments) == (
        "shipped", later, "T-2", [("T-1", 1), ("T-2", 1)])


def test_a_snapshot_shares_no_line_part_or_shipment_with_the_order() -> None:
    order = order_of({"l1": [AllocatedQty("wh-1", "backorder", 2)]}, ("l1", "sku-a", 2))
    copy = domain.snapshot(order)
    copy.lines[0].parts[0].released_qty = 2
    copy.lines[0].shipments.append(("T-9", 1))
    copy.lines[0].state = "cancelled"
    assert (order.lines[0].parts[0].released_qty, order.lines[0].shipments, order.lines[0].state) == (
        0, [], "awaiting_stock")


def test_r15_a_deadline_is_an_instant_in_utc() -> None:
    due = deadline(date(2026, 12, 1), zone("America/Los_Angeles", "US"))
    assert due == datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
    assert due.tzinfo is UTC  # not the machine's zone, which merely equals it where that is UTC


def test_r26_a_lines_dates_are_the_latest_of_its_parts() -> None:
    order = order_of({"l1": [AllocatedQty("wh-1", "regular", 1), AllocatedQty("wh-1", "backorder", 1)]},
                     ("l1", "sku-a", 2))
    assert order.lines[0].dates() == (date(2026, 11, 27), date(2026, 12, 4))  # the backorder part's


def refusal(fn: object, *args: object, **kwargs: object) -> tuple[str, str]:
    with pytest.raises(Rejection) as caught:
        fn(*args, **kwargs)  # type: ignore[operator]
    return caught.value.reason, caught.value.message


def test_r06a_r16_r17_r18_refusals_say_why_in_words() -> None:
    assert refusal(domain.check_may_place, SELLER, "buyer-1") == ("forbidden", "a seller cannot place orders")
    assert refusal(domain.check_may_place, STRANGER, "buyer-1") == (
        "not_owner", "buyer buyer-2 cannot place an order for buyer buyer-1")
    assert refusal(domain.place, order_id="o-1", buyer_id="buyer-1", buyer_email="b@example.com", region="US",
                   locale="en_US", timezone="America/New_York", placed_at=PLACED,
                   lines=[("l1", "sku-a", 1), ("l1", "sku-b", 1)], sellers={}) == (
        "duplicate_line", "an order names the same line id twice")
    order = order_of({"l1": [AllocatedQty("wh-1", "regular", 1)], "l2": [AllocatedQty("wh-1", "backorder", 1)]},
                     ("l1", "sku-a", 1), ("l2", "sku-b", 1))
    other = Actor("seller", "seller-2")
    assert refusal(order.line, "l9") == ("unknown_line", "order o-1 has no line l9")
    assert refusal(order.ship, ["l1"], "T-1", NOW, BUYER) == ("forbidden", "a buyer cannot ship lines")
    assert refusal(order.ship, ["l1"], "T-1", NOW, other) == (
        "not_owner", "seller seller-2 cannot ship lines ['l1'] of another seller")
    assert refusal(order.ship, ["l2"], "T-1", NOW, SELLER) == (
        "awaiting_stock", "line l2 waits for 1 backordered units to be restocked")
    assert refusal(order.cancel, ["l1"], "buyer_request", NOW, STRANGER) == (
        "not_owner", "order o-1 belongs to another buyer")
    assert refusal(order.cancel, ["l1"], "seller_request", NOW, other) == (
        "not_owner", "seller seller-2 cannot cancel lines ['l1'] of another seller")
    assert refusal(order.request_replacement, "l1", BUYER, on_backorder=False, out_of_stock=False) == (
        "not_shipped", "line l1 has not shipped; cancel it instead")
    assert refusal(order.release, "l2", "wh-1", 2) == (
        "release_exceeds_backorder", "line l2 waits for 1 units in wh-1, released 2")
    order.ship(["l1"], "T-1", NOW, SELLER)
    assert refusal(order.deliver, "T-9", NOW, BUYER) == ("unknown_shipment", "order o-1 has no shipment T-9")
    assert refusal(order.deliver, "T-1", NOW, other) == (
        "not_owner", "seller seller-2 cannot confirm delivery of lines ['l1'] of another seller")
    assert refusal(order.cancel, ["l1"], "buyer_request", NOW, BUYER) == (
        "already_shipped", "line l1 was shipped and cannot be cancelled")
    assert refusal(order.request_replacement, "l1", other, on_backorder=False, out_of_stock=False) == (
        "not_owner", "seller seller-2 cannot request a replacement for lines ['l1'] of another seller")
    order.request_replacement("l1", BUYER, on_backorder=True, out_of_stock=False)
    assert refusal(order.request_replacement, "l1", BUYER, on_backorder=False, out_of_stock=False) == (
        "replacement_already_requested", "a replacement was requested for line l1 already (refund)")


def test_r17_a_rejected_orders_lines_cannot_be_cancelled() -> None:
    order = domain.place(order_id="o-1", buyer_id="buyer-1", buyer_email="b@example.com", region="US",
                         locale="en_US", timezone="America/New_York", placed_at=PLACED,
                         lines=[("l1", "sku-a", 1)], sellers={})
    order.reject("out_of_stock", NOW)
    assert refusal(order.cancel, ["l1"], "buyer_request", NOW, BUYER) == ("order_rejected", "order o-1 was rejected")


def test_a_line_moves_only_along_its_transitions() -> None:
    from services.orders.lines import LINE_TRANSITIONS, IllegalTransition

    order = order_of({"l1": [AllocatedQty("wh-1", "regular", 1)]}, ("l1", "sku-a", 1))
    line = order.lines[0]
    assert "pending" not in LINE_TRANSITIONS["ready_to_ship"]
    with pytest.raises(IllegalTransition) as illegal:
        line._move("pending")
    assert str(illegal.value) == "line l1: ready_to_ship -> pending"
    line._move("ready_to_ship")  # staying put is no move


def test_r16_shipping_lines_of_an_order_not_accepted_yet_names_the_order() -> None:
    order = domain.place(order_id="o-1", buyer_id="buyer-1", buyer_email="b@example.com", region="US",
                         locale="en_US", timezone="America/New_York", placed_at=PLACED,
                         lines=[("l1", "sku-a", 1)], sellers={})
    assert refusal(order.ship, ["l1"], "T-1", NOW, None) == ("not_accepted", "order o-1 is not accepted yet")


def test_an_order_moves_only_along_its_status_transitions() -> None:
    from services.orders.lines import IllegalTransition

    order = order_of({"l1": [AllocatedQty("wh-1", "regular", 1)]}, ("l1", "sku-a", 1))
    order.lines[0].state = "pending"  # lines that went back: not a move an order can make
    with pytest.raises(IllegalTransition) as illegal:
        order._restate()
    assert str(illegal.value) == "order o-1: awaiting_shipment -> pending"
