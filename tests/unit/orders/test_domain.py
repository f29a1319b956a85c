"""The order aggregate: rule examples and a hypothesis state machine over every operation."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from services.orders import domain
from services.orders.domain import (
    Actor,
    Order,
    SkuTerms,
    derive_status,
    snapshot,
)
from services.orders.lines import LINE_TRANSITIONS, AllocatedQty
from services.orders.statuses import ORDER_TRANSITIONS
from shared.dates import DatingPolicy, deadline
from shared.domain import Rejection

PLACED = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)  # Monday 09:00 in New York, Thanksgiving week
NOW = PLACED + timedelta(hours=1)
POLICY = DatingPolicy()
SELLER = Actor("seller", "seller-1")
OTHER_SELLER = Actor("seller", "seller-2")
BUYER = Actor("buyer", "buyer-1")


def terms(sku_id: str) -> SkuTerms:
    seller = "seller-2" if sku_id.startswith("other") else "seller-1"
    return SkuTerms(seller, "US", "America/New_York", handling_days=5 if sku_id.endswith("slow") else 3)


def new_order(*lines: tuple[str, str, int]) -> Order:
    return domain.place(
        order_id="o-1", buyer_id="buyer-1", buyer_email="b@example.com", region="US", locale="en_US",
        timezone="America/New_York", placed_at=PLACED, lines=list(lines), sellers={},
    )


def regular(qty: int, wh: str = "wh-1") -> AllocatedQty:
    return AllocatedQty(wh, "regular", qty)


def backorder(qty: int, wh: str = "wh-1") -> AllocatedQty:
    return AllocatedQty(wh, "backorder", qty)


def accepted(allocation: dict[str, list[AllocatedQty]], *lines: tuple[str, str, int]) -> Order:
    order = new_order(*lines)
    assert order.accept(allocation, terms, POLICY, NOW) is not None
    return order


def rejected_with(reason: str, fn: object, *args: object, **kwargs: object) -> None:
    with pytest.raises(Rejection) as caught:
        fn(*args, **kwargs)  # type: ignore[operator]
    assert caught.value.reason == reason


# ---------------------------------------------------------------- examples per rule


def test_r13_order_with_a_backorder_part_is_tagged_and_awaits_shipment() -> None:
    order = accepted({"l1": [regular(1), backorder(2)], "l2": [regular(1)]}, ("l1", "sku-a", 3), ("l2", "sku-b", 1))
    assert order.status == "awaiting_shipment"
    assert order.tags == ["back_order"]
    assert [line.state for line in order.lines] == ["awaiting_stock", "ready_to_ship"]


def test_r13_order_without_backorder_parts_has_no_tag() -> None:
    order = accepted({"l1": [regular(2)]}, ("l1", "sku-a", 2))
    assert order.tags == []
    assert order.lines[0].due_at is None  # no SLA clock for regular parts


def test_r14_each_part_is_dated_by_its_source() -> None:
    order = accepted({"l1": [regular(1), backorder(1, "wh-2")]}, ("l1", "sku-a-slow", 2))
    reg, bo = order.lines[0].parts
    # Mon Nov 23 before cut-off: regular +2 = Wed Nov 25; backorder +5 skips Thanksgiving = Tue Dec 1
    assert (reg.ship_by, bo.ship_by) == (date(2026, 11, 25), date(2026, 12, 1))
    assert bo.estimated_delivery == date(2026, 12, 8)  # US transit 5 business days
    assert order.lines[0].due_at == deadline(date(2026, 12, 1), ZoneInfo("America/New_York"))


def test_r16_split_shipments_partially_shipped_then_shipped() -> None:
    order = accepted({"l1": [regular(1)], "l2": [backorder(1)]}, ("l1", "sku-a", 1), ("l2", "sku-b", 1))
    order.ship(["l1"], "T1", NOW, SELLER)
    assert order.status == "partially_shipped"
    assert order.release("l2", "wh-1", 1) is order.lines[1]
    order.ship(["l2"], "T2", NOW, SELLER)
    assert order.status == "shipped"
    assert order.tags == ["back_order"]  # the label stays on shipped backorder orders
    order.deliver("T1", NOW, None)
    assert order.status == "shipped"
    order.deliver("T2", NOW, None)
    assert order.status == "delivered"


def test_r16_shipping_a_line_still_awaiting_stock_is_rejected() -> None:
    order = accepted({"l1": [regular(1), backorder(2)]}, ("l1", "sku-a", 3))
    before = snapshot(order)
    rejected_with("awaiting_stock", order.ship, ["l1"], "T1", NOW, SELLER)
    assert order == before
    order.release("l1", "wh-1", 1)
    rejected_with("awaiting_stock", order.ship, ["l1"], "T1", NOW, SELLER)  # a partial release is not enough
    order.release("l1", "wh-1", 1)
    assert order.ship(["l1"], "T1", NOW, SELLER)


def test_r16_the_same_shipment_twice_is_a_no_op_another_one_is_rejected() -> None:
    order = accepted({"l1": [regular(1)]}, ("l1", "sku-a", 1))
    assert order.ship(["l1"], "T1", NOW, SELLER)
    assert order.ship(["l1"], "T1", NOW, SELLER) == []
    rejected_with("already_shipped", order.ship, ["l1"], "T2", NOW, SELLER)


def test_r06a_a_seller_ships_only_its_own_lines_and_a_buyer_none() -> None:
    order = accepted({"l1": [regular(1)], "l2": [regular(1)]}, ("l1", "sku-a", 1), ("l2", "other-sku", 1))
    rejected_with("not_owner", order.ship, ["l1", "l2"], "T1", NOW, SELLER)
    rejected_with("forbidden", order.ship, ["l1"], "T1", NOW, BUYER)
    assert order.ship(["l2"], "T2", NOW, OTHER_SELLER)


def test_r17_buyer_cancels_a_backordered_line_before_it_ships() -> None:
    order = accepted({"l1": [backorder(2)], "l2": [regular(1)]}, ("l1", "sku-a", 2), ("l2", "sku-b", 1))
    cancelled = order.cancel(["l1"], "changed_mind", NOW, BUYER)
    assert [line.line_id for line in cancelled] == ["l1"]
    assert order.status == "awaiting_shipment"
    assert order.tags == []  # no line that is not cancelled has a backorder part
    assert order.cancel(["l1"], "again", NOW, BUYER) == []  # idempotent
    order.cancel(["l2"], "changed_mind", NOW, BUYER)
    assert order.status == "cancelled"


def test_r17_cancelling_a_shipped_line_is_rejected_and_changes_nothing() -> None:
    order = accepted({"l1": [regular(1)], "l2": [backorder(1)]}, ("l1", "sku-a", 1), ("l2", "sku-b", 1))
    order.ship(["l1"], "T1", NOW, SELLER)
    before = snapshot(order)
    rejected_with("already_shipped", order.cancel, ["l2", "l1"], "x", NOW, BUYER)
    assert order == before


def test_r17_only_the_buyer_of_the_order_may_cancel() -> None:
    order = accepted({"l1": [regular(1)]}, ("l1", "sku-a", 1))
    rejected_with("not_owner", order.cancel, ["l1"], "x", NOW, Actor("buyer", "someone-else"))
    rejected_with("not_owner", order.cancel, ["l1"], "x", NOW, OTHER_SELLER)
    assert order.cancel(["l1"], "x", NOW, SELLER)  # the line's own seller may


def test_r17_cancelled_before_allocation_gives_the_stock_back_when_it_arrives() -> None:
    order = new_order(("l1", "sku-a", 2), ("l2", "sku-b", 1))
    order.cancel(["l1"], "x", NOW, BUYER)
    assert order.status == "pending"
    acceptance = order.accept({"l1": [backorder(2)], "l2": [regular(1)]}, terms, POLICY, NOW)
    assert acceptance is not None
    assert [line.line_id for line in acceptance.cancelled_before_allocation] == ["l1"]
    assert [line.line_id for line in acceptance.accepted] == ["l2"]
    assert order.lines[0].parts[0].qty == 2
    assert order.status == "awaiting_shipment"


@pytest.mark.parametrize(
    ("on_backorder", "out_of_stock", "outcome", "detail"),
    [
        (True, False, "refund", "sku_on_backorder"),
        (False, True, "refund", "out_of_stock"),
        (True, True, "refund", "sku_on_backorder"),
        (False, False, "replacement", None),
    ],
)
def test_r18_replacement_for_backorder_or_out_of_stock_sku_is_refund_only(
    on_backorder: bool, out_of_stock: bool, outcome: str, detail: str | None
) -> None:
    order = accepted({"l1": [regular(1)]}, ("l1", "sku-a", 1))
    order.ship(["l1"], "T1", NOW, SELLER)
    decision = order.request_replacement("l1", BUYER, on_backorder=on_backorder, out_of_stock=out_of_stock)
    assert (decision.outcome, decision.detail) == (outcome, detail)
    rejected_with("replacement_already_requested", order.request_replacement, "l1", BUYER, on_backorder=False,
                  out_of_stock=False)


def test_r18_replacement_needs_a_shipped_line() -> None:
    order = accepted({"l1": [regular(1)]}, ("l1", "sku-a", 1))
    rejected_with("not_shipped", order.request_replacement, "l1", BUYER, on_backorder=False, out_of_stock=False)


def test_rolling_backorder_longer_handling_time_moves_waiting_lines_later_only() -> None:
    order = accepted({"l1": [backorder(1)], "l2": [backorder(1)]}, ("l1", "sku-a", 1), ("l2", "sku-b", 1))
    order.release("l2", "wh-1", 1)  # l2 has its stock: its promise does not move
    delays = order.extend_handling("sku-a", 8, POLICY)
    assert [(d.line.line_id, d.previous_ship_by, d.ship_by) for d in delays] == [
        ("l1", date(2026, 11, 27), date(2026, 12, 4)),
    ]
    assert order.lines[0].due_at == deadline(date(2026, 12, 4), ZoneInfo("America/New_York"))
    assert order.extend_handling("sku-a", 4, POLICY) == []  # shorter keeps the promise
    assert order.extend_handling("sku-b", 9, POLICY) == []


def test_allocation_outcome_applies_once() -> None:
    order = accepted({"l1": [regular(1)]}, ("l1", "sku-a", 1))
    assert order.accept({"l1": [regular(1)]}, terms, POLICY, NOW) is None
    assert order.reject("out_of_stock", NOW) is None
    assert order.status == "awaiting_shipment"


def test_allocation_that_does_not_add_up_is_refused() -> None:
    order = new_order(("l1", "sku-a", 2))
    rejected_with("invalid_allocation", order.accept, {"l1": [regular(1)]}, terms, POLICY, NOW)
    rejected_with("invalid_allocation", order.accept, {"lx": [regular(2)]}, terms, POLICY, NOW)
    assert order.status == "pending"


def test_a_rejected_order_cannot_ship_or_cancel() -> None:
    order = new_order(("l1", "sku-a", 1))
    order.reject("out_of_stock", NOW)
    assert order.status == "rejected"
    rejected_with("order_rejected", order.ship, ["l1"], "T", NOW, None)
    rejected_with("order_rejected", order.cancel, ["l1"], "x", NOW, None)


def test_release_beyond_what_waits_is_refused() -> None:
    order = accepted({"l1": [backorder(2, "wh-1"), backorder(1, "wh-2")]}, ("l1", "sku-a", 3))
    rejected_with("release_exceeds_backorder", order.release, "l1", "wh-2", 2)
    assert order.release("l1", "wh-1", 2) is None
    assert order.release("l1", "wh-2", 1) is order.lines[0]
    assert order.release("l1", "wh-2", 1) is None  # no longer waiting: ignored


def test_placing_checks_lines_and_principal() -> None:
    rejected_with("duplicate_line", new_order, ("l1", "a", 1), ("l1", "b", 1))
    rejected_with("forbidden", domain.check_may_place, SELLER, "buyer-1")
    rejected_with("not_owner", domain.check_may_place, Actor("buyer", "b-2"), "buyer-1")
    domain.check_may_place(BUYER, "buyer-1")
    domain.check_may_place(Actor("operator", "ops"), "buyer-1")


# ---------------------------------------------------------------- the state machine


LINE_IDS = ["l0", "l1", "l2", "l3"]
SKUS = ["sku-a", "sku-b-slow", "other-sku"]


class OrderMachine(RuleBasedStateMachine):
    """Random sequences of every operation. After each: a refused operation changed nothing,
    the status moved along ORDER_TRANSITIONS and every line along LINE_TRANSITIONS, and the
    status, tag and line states agree with each other."""

    order: Order

    @initialize(qtys=st.lists(st.integers(1, 4), min_size=1, max_size=len(LINE_IDS)),
                skus=st.lists(st.sampled_from(SKUS), min_size=len(LINE_IDS), max_size=len(LINE_IDS)))
    def place(self, qtys: list[int], skus: list[str]) -> None:
        self.order = new_order(*[(LINE_IDS[i], skus[i], q) for i, q in enumerate(qtys)])
        self.ever_shipped: set[str] = set()
        self.ever_cancelled: set[str] = set()

    def _apply(self, operation: str, fn: object, *args: object, **kwargs: object) -> object:
        before = snapshot(self.order)
        try:
            result = fn(*args, **kwargs)  # type: ignore[operator]
        except Rejection:
            assert self.order == before, f"a refused {operation} changed the order"
            return None
        after = self.order
        assert after.status == before.status or after.status in ORDER_TRANSITIONS[before.status], (
            f"{operation}: {before.status} -> {after.status}")
        for old, new in zip(before.lines, after.lines, strict=True):
            assert new.state == old.state or new.state in LINE_TRANSITIONS[old.state], (
                f"{operation}: line {old.line_id} {old.state} -> {new.state}")
        for line in after.lines:
            if line.is_shipped:
                self.ever_shipped.add(line.line_id)
            if line.state == "cancelled":
                self.ever_cancelled.add(line.line_id)
        return result

    def _line_ids(self, data: st.DataObject) -> list[str]:
        ids = [line.line_id for line in self.order.lines]
        return data.draw(st.lists(st.sampled_from(ids), min_size=1, max_size=len(ids)))

    @rule(data=st.data())
    def accept(self, data: st.DataObject) -> None:
        allocation: dict[str, list[AllocatedQty]] = {}
        for line in self.order.lines:
            parts, left = [], line.qty
            while left:
                qty = data.draw(st.integers(1, left))
                parts.append(AllocatedQty(data.draw(st.sampled_from(["wh-1", "wh-2"])),
                                          data.draw(st.sampled_from(["regular", "backorder"])), qty))
                left -= qty
            allocation[line.line_id] = parts
        self._apply("accept", self.order.accept, allocation, terms, POLICY, NOW)

    @rule(reason=st.sampled_from(["out_of_stock", "unknown_sku"]))
    def reject(self, reason: str) -> None:
        self._apply("reject", self.order.reject, reason, NOW)

    @rule(data=st.data())
    def release(self, data: st.DataObject) -> None:
        line_id = data.draw(st.sampled_from([line.line_id for line in self.order.lines]))
        self._apply("release", self.order.release, line_id, data.draw(st.sampled_from(["wh-1", "wh-2"])),
                    data.draw(st.integers(1, 4)))

    @rule(data=st.data(), tracking=st.sampled_from(["T1", "T2"]),
          actor=st.sampled_from([None, SELLER, OTHER_SELLER, BUYER]))
    def ship(self, data: st.DataObject, tracking: str, actor: Actor | None) -> None:
        self._apply("ship", self.order.ship, self._line_ids(data), tracking, NOW, actor)

    @rule(data=st.data(), actor=st.sampled_from([None, BUYER, Actor("buyer", "intruder"), SELLER]))
    def cancel(self, data: st.DataObject, actor: Actor | None) -> None:
        self._apply("cancel", self.order.cancel, self._line_ids(data), "test", NOW, actor)

    @rule(tracking=st.sampled_from(["T1", "T2"]))
    def deliver(self, tracking: str) -> None:
        self._apply("deliver", self.order.deliver, tracking, NOW, None)

    @rule(sku=st.sampled_from(SKUS), days=st.integers(3, 21))
    def extend(self, sku: str, days: int) -> None:
        self._apply("extend", self.order.extend_handling, sku, days, POLICY)

    @rule(data=st.data())
    def replacement(self, data: st.DataObject) -> None:
        line_id = data.draw(st.sampled_from([line.line_id for line in self.order.lines]))
        self._apply("replacement", self.order.request_replacement, line_id, BUYER,
                    on_backorder=data.draw(st.booleans()), out_of_stock=data.draw(st.booleans()))

    @precondition(lambda self: hasattr(self, "order"))
    @invariant()
    def consistent(self) -> None:
        order = self.order
        assert order.status == derive_status(order.lines)
        assert not (self.ever_shipped & self.ever_cancelled), "a line was both shipped and cancelled"
        assert order.tags == (["back_order"] if any(
            line.has_backorder for line in order.lines if line.state != "cancelled") else [])
        for line in order.lines:
            assert sum(p.qty for p in line.parts) in (0, line.qty)
            if line.state == "awaiting_stock":
                assert line.waiting > 0
            if line.state in ("ready_to_ship", "shipped", "delivered"):
                assert line.waiting == 0, "a line left awaiting_stock with backorder units unfilled"
            if line.is_shipped:
                assert line.tracking_number is not None
            if line.state in ("awaiting_stock",) or (line.state == "ready_to_ship" and line.has_backorder):
                assert line.due_at is not None, "a backordered line has no SLA deadline"
            for part in line.parts:
                assert 0 <= part.released_qty <= part.qty
                assert part.estimated_delivery >= part.ship_by
        if order.status == "awaiting_shipment" and order.tags:
            assert any(line.has_backorder for line in order.lines)


OrderMachine.TestCase.settings = settings(
    max_examples=150, stateful_step_count=25, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
TestR13R16R17OrderStatusMachine = OrderMachine.TestCase
