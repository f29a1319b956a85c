"""R20, R21, R26, R29, R32: each event becomes exactly this notice (``services/notifications/notices.py``): its
kind, its revision (what makes it news again), its lines with their dates, and its facts, pinned whole."""

from __future__ import annotations

import random
from datetime import date

import pytest

from services.notifications import notices
from services.notifications.domain import Item, LineState, Notice, check_inbox_owner, retry_delay
from shared.contract import inventory as inv
from shared.contract import orders as o
from shared.contract.envelope import Principal
from shared.domain import Rejection

D1, D2, D3, D4 = date(2026, 12, 1), date(2026, 12, 8), date(2026, 12, 15), date(2026, 12, 22)
LAMP = LineState("l1", "sku-lamp", 3, 2, D1, D2)  # 3 units, 2 on back order
DESK = LineState("l2", "sku-desk", 1, 0, D1, D2)  # in stock
KNOWN = {"l1": LAMP, "l2": DESK}


def part(source: str, qty: int, ship_by: date, delivery: date) -> o.DatedPart:
    return o.DatedPart(source=source, warehouse_id="wh-1", qty=qty, ship_by=ship_by,  # type: ignore[arg-type]
                       estimated_delivery=delivery)


def test_r20_accepted_lines_carry_their_backorder_quantity_and_the_latest_backorder_dates() -> None:
    accepted = o.OrderAccepted(order_id="o1", buyer_id="b1", status="awaiting_shipment", tags=["back_order"], lines=[
        o.AcceptedLine(line_id="l1", sku_id="sku-lamp", qty=3, parts=[
            part("regular", 1, D1, D2), part("backorder", 1, D3, D4), part("backorder", 1, D2, D3)]),
        o.AcceptedLine(line_id="l2", sku_id="sku-desk", qty=2, parts=[
            part("regular", 1, D1, D2), part("regular", 1, D2, D3)]),
    ])
    assert notices.lines_from_accepted(accepted) == [LineState("l1", "sku-lamp", 3, 2, D3, D4),
                                                     LineState("l2", "sku-desk", 2, 0, D2, D3)]
    assert notices.notice_accepted(accepted) == Notice("o1", "b1", "backorder_accepted", "1", (
        Item("l1", "sku-lamp", 3, 2, D3, D4),))
    in_stock = accepted.model_copy(update={"lines": accepted.lines[1:]})
    assert notices.notice_accepted(in_stock) is None


def test_r29_a_delay_moves_the_lines_dates_only() -> None:
    delayed = o.BackorderDelayed(order_id="o1", buyer_id="b1", line_id="l1", sku_id="sku-lamp",
                                 previous_ship_by=D1, ship_by=D3, previous_estimated_delivery=D2,
                                 estimated_delivery=D4, reason="inbound_late")
    assert notices.apply_delay(LAMP, delayed) == LineState("l1", "sku-lamp", 3, 2, D3, D4)
    assert notices.notice_delayed(delayed, KNOWN) == Notice("o1", "b1", "delayed", "2026-12-15/2026-12-22", (
        Item("l1", "sku-lamp", 3, 2, D3, D4, D1, D2),), {"reason": "inbound_late"})
    assert notices.notice_delayed(delayed, {}).items == (Item("l1", "sku-lamp", 0, 0, D3, D4, D1, D2),)


def test_r21_a_release_is_news_again_only_with_another_quantity_or_dates() -> None:
    released = o.LinesReleased(order_id="o1", buyer_id="b1", lines=[
        o.ReleasedLine(line_id="l2", sku_id="sku-desk", qty=1, ship_by=D2, estimated_delivery=D3),
        o.ReleasedLine(line_id="l1", sku_id="sku-lamp", qty=2, ship_by=D1, estimated_delivery=D2)])
    assert notices.notice_released(released, {"l1": LAMP}) == Notice(
        "o1", "b1", "backorder_released", "l1:2:2026-12-01:2026-12-08;l2:1:2026-12-08:2026-12-15", (
            Item("l2", "sku-desk", 1, 1, D2, D3), Item("l1", "sku-lamp", 3, 2, D1, D2)))


def test_r21_r27_a_shipment_of_backordered_lines_says_how_many_units_shipped_now() -> None:
    shipped = o.LinesShipped(order_id="o1", buyer_id="b1", line_ids=["l1", "l2", "l9"], tracking_number="T-1",
                             status="partially_shipped", quantities=[o.LineQty(line_id="l1", qty=1)])
    assert notices.notice_shipped(shipped, KNOWN) == Notice("o1", "b1", "shipped", "T-1", (
        Item("l1", "sku-lamp", 3, 2, D1, D2),), {"tracking_number": "T-1", "status": "partially_shipped",
                                                "partial": "1 of 3 units of sku-lamp shipped now"})
    whole = shipped.model_copy(update={"quantities": []})
    assert notices.notice_shipped(whole, KNOWN).facts["partial"] == ""  # type: ignore[union-attr]
    no_sku = {"l1": LineState("l1", "", 3, 2, D1, D2)}
    assert notices.notice_shipped(shipped, no_sku).facts["partial"] == "1 of 3 units of line l1 shipped now"  # type: ignore[union-attr]
    assert notices.notice_shipped(shipped.model_copy(update={"line_ids": ["l2"]}), KNOWN) is None


def test_r15_r21_a_late_line_is_told_once_per_ship_by() -> None:
    late = o.OrderShipmentLate(order_id="o1", buyer_id="b1", line_id="l1", sku_id="sku-lamp", ship_by=D1,
                               estimated_delivery=D2)
    assert notices.notice_late(late, KNOWN) == Notice("o1", "b1", "late", "2026-12-01", (
        Item("l1", "sku-lamp", 3, 2, D1, D2),))
    assert notices.notice_late(late, {}).items == (Item("l1", "sku-lamp", 0, 0, D1, D2),)


def test_r21_cancelled_backordered_lines_are_told_with_reason_and_status() -> None:
    cancelled = o.LinesCancelled(order_id="o1", buyer_id="b1", reason="buyer_request", status="cancelled", lines=[
        o.CancelledLine(line_id="l1", sku_id="sku-lamp"), o.CancelledLine(line_id="l2", sku_id="sku-desk"),
        o.CancelledLine(line_id="l9", sku_id="sku-x")])
    assert notices.notice_cancelled(cancelled, KNOWN) == Notice("o1", "b1", "cancelled", "1", (
        Item("l1", "sku-lamp", 3, 2, D1, D2),), {"reason": "buyer_request", "status": "cancelled"})
    assert notices.notice_cancelled(cancelled.model_copy(update={"lines": cancelled.lines[1:]}), KNOWN) is None


def test_r18_r21_a_refund_says_why_in_words() -> None:
    refund = o.RefundRequested(order_id="o1", buyer_id="b1", line_id="l1", reason="replacement_unavailable",
                               sku_id="sku-lamp", detail="out_of_stock")
    assert notices.notice_refunded(refund, KNOWN) == Notice("o1", "b1", "refunded", "1", (
        Item("l1", "sku-lamp", 3, 2, D1, D2),), {"reason": "replacement_unavailable",
                                                "availability": "out of stock", "detail": "out_of_stock"})
    unknown = refund.model_copy(update={"line_id": "l7", "detail": None})
    assert notices.notice_refunded(unknown, KNOWN) == Notice("o1", "b1", "refunded", "1", (
        Item("l7", "sku-lamp", 0, 0, None, None),), {"reason": "replacement_unavailable",
                                                    "availability": "on back order or out of stock", "detail": ""})
    assert notices.notice_refunded(unknown.model_copy(update={"sku_id": None}), KNOWN).items[0].sku_id == ""


def test_r26_a_rejection_is_told_in_words_with_each_line_once() -> None:
    rejected = o.OrderRejected(order_id="o1", buyer_id="b1", reason=o.RejectionReason(code="out_of_stock"),
                               line_ids=["l2", "l1", "l2"])
    assert notices.notice_rejected(rejected) == Notice("o1", "b1", "rejected", "1", (
        Item("l1", "", 0, 0, None, None), Item("l2", "", 0, 0, None, None)),
        {"reason": "out_of_stock", "reason_words": "the items are out of stock"})
    assert notices.rejection_words("invalid_order") == "the order named the same line twice"
    assert notices.rejection_words("seller_closed_shop") == "seller closed shop"
    assert notices.notice_rejected(rejected.model_copy(update={"buyer_id": None})) is None


def test_r32_a_low_stock_alert_counts_backorder_stock_for_the_seller() -> None:
    low = inv.LowStock(sku_id="sku-lamp", seller_id="s1", available_to_promise=1, backorder=2, total_available=3,
                       threshold=4)
    assert notices.notice_low_stock(low, "alert-1") == Notice(None, None, "low_stock", "alert-1", (), {
        "in_stock": "1", "backorder": "2", "total_available": "3", "threshold": "4"}, seller_id="s1",
        sku_id="sku-lamp")
    older = low.model_copy(update={"total_available": None})  # a producer from before R32 sent no total
    assert notices.notice_low_stock(older, "alert-1").facts["total_available"] == "1"  # type: ignore[union-attr]
    assert notices.notice_low_stock(low.model_copy(update={"seller_id": None}), "alert-1") is None


def test_r32_backorder_stock_running_out_is_told_to_the_seller() -> None:
    out = inv.BackorderStockExhausted(sku_id="sku-lamp", seller_id="s1", available_to_promise=0,
                                      backorder_allocated=5)
    assert notices.notice_backorder_exhausted(out, "alert-2") == Notice(
        None, None, "backorder_exhausted", "alert-2", (), {"in_stock": "0", "backorder_allocated": "5"},
        seller_id="s1", sku_id="sku-lamp")
    assert notices.notice_backorder_exhausted(out.model_copy(update={"seller_id": None}), "alert-2") is None


def test_r29_r32_an_uncovered_line_is_told_to_its_seller_once_per_warehouse_and_ship_by() -> None:
    flag = o.BackorderUncovered(order_id="o1", buyer_id="b1", line_id="l1", sku_id="sku-lamp", seller_id="s1",
                                warehouse_id="wh-1", ship_by=D1)
    assert notices.notice_uncovered(flag) == Notice(
        "o1", None, "backorder_uncovered", "wh-1/2026-12-01", (Item("l1", "sku-lamp", 0, 0, D1, None),),
        {"warehouse_id": "wh-1"}, seller_id="s1", sku_id="sku-lamp")
    assert notices.notice_uncovered(flag.model_copy(update={"seller_id": None})) is None


def test_r20_what_a_notice_carries_for_machines_with_iso_dates() -> None:
    notice = Notice("o1", "b1", "delayed", "rev-1", (
        Item("l2", "sku-desk", 1, 1, D1, D2, D1, None), Item("l1", "sku-lamp", 3, 2, D3, None)),
        {"reason": "inbound_late"})
    assert notice.data() == {
        "order_id": "o1", "kind": "delayed", "revision": "rev-1", "line_ids": ["l1", "l2"],
        "ship_by": "2026-12-15", "estimated_delivery": "2026-12-08",
        "items": [
            {"line_id": "l2", "sku_id": "sku-desk", "qty": 1, "backorder_qty": 1, "ship_by": "2026-12-01",
             "estimated_delivery": "2026-12-08", "previous_ship_by": "2026-12-01",
             "previous_estimated_delivery": None},
            {"line_id": "l1", "sku_id": "sku-lamp", "qty": 3, "backorder_qty": 2, "ship_by": "2026-12-15",
             "estimated_delivery": None, "previous_ship_by": None, "previous_estimated_delivery": None}],
        "facts": {"reason": "inbound_late"}}
    undated = Notice("o1", "b1", "cancelled", "1", (Item("l1", "sku-lamp", 3, 2, None, None),))
    assert (undated.data()["ship_by"], undated.data()["estimated_delivery"]) == (None, None)


def test_r32_a_seller_notice_names_the_seller_and_the_sku_for_machines() -> None:
    notice = Notice(None, None, "low_stock", "alert-1", (), {"threshold": "4"}, seller_id="s1", sku_id="sku-lamp")
    data = notice.data()
    assert (data["order_id"], data["seller_id"], data["sku_id"], data["line_ids"], data["items"]) == (
        None, "s1", "sku-lamp", [], [])
    assert (notice.key, notice.subject) == ("s1", "s1|sku-lamp")
    assert "seller_id" not in Notice("o1", "b1", "late", "1", ()).data()


@pytest.mark.parametrize(("principal", "reason"), [
    (None, None), (Principal(kind="operator", id="ops-1"), None), (Principal(kind="service", id="orders"), None),
    (Principal(kind="buyer", id="b1"), None), (Principal(kind="buyer", id="b2"), "not_owner"),
    (Principal(kind="seller", id="s1"), "forbidden")])
def test_r20_a_buyer_changes_its_own_inbox_only(principal: Principal | None, reason: str | None) -> None:
    if reason is None:
        check_inbox_owner(principal, "b1")
        return
    with pytest.raises(Rejection) as refused:
        check_inbox_owner(principal, "b1")
    assert (refused.value.reason, refused.value.message) == (reason, {
        "not_owner": "buyer b2 cannot change the inbox of buyer b1",
        "forbidden": "a seller cannot change a buyer's inbox"}[reason])


def test_r22_email_retries_back_off_exponentially_with_jitter_up_to_a_ceiling() -> None:
    class Fixed(random.Random):
        def uniform(self, a: float, b: float) -> float:
            return b  # the top of the jitter band

    assert [retry_delay(n, 2.0, 60.0, Fixed()) for n in (0, 1, 2, 3, 6, 7)] == pytest.approx(
        [2.4, 2.4, 4.8, 9.6, 72.0, 72.0])
    assert 1.6 <= retry_delay(1, 2.0, 60.0, random.Random(7)) <= 2.4


def test_r27_a_shipment_of_two_split_lines_names_each_one() -> None:
    shipped = o.LinesShipped(order_id="o1", buyer_id="b1", line_ids=["l1", "l3"], tracking_number="T-1",
                             status="partially_shipped",
                             quantities=[o.LineQty(line_id="l1", qty=1), o.LineQty(line_id="l3", qty=2)])
    known = {**KNOWN, "l3": LineState("l3", "sku-shelf", 4, 4, D1, D2)}
    assert notices.notice_shipped(shipped, known).facts["partial"] == (  # type: ignore[union-attr]
        "1 of 3 units of sku-lamp shipped now; 2 of 4 units of sku-shelf shipped now")


def test_r20_an_accepted_line_without_parts_has_no_dates() -> None:
    accepted = o.OrderAccepted(order_id="o1", buyer_id="b1", status="awaiting_shipment", tags=[], lines=[
        o.AcceptedLine(line_id="l1", sku_id="sku-lamp", qty=1, parts=[])])
    assert notices.lines_from_accepted(accepted) == [LineState("l1", "sku-lamp", 1, 0, None, None)]
