"""R27: the in-stock units of a partly backordered line ship now, the rest once released."""

from __future__ import annotations

import pytest

from services.orders.domain import snapshot
from tests.unit.orders.test_domain import BUYER, NOW, SELLER, accepted, backorder, regular, rejected_with


def test_r27_regular_units_of_a_partly_backordered_line_ship_now_and_the_rest_once_released() -> None:
    order = accepted({"l1": [regular(2), backorder(3)]}, ("l1", "sku-a", 5))
    line = order.lines[0]

    assert order.ship([], "T1", NOW, SELLER, {"l1": 2}) == [line]
    assert (line.partially_shipped, line.shipped_qty, line.state, order.status) == (
        True, 2, "awaiting_stock", "partially_shipped")

    assert order.release("l1", "wh-1", 3) is line
    order.ship([], "T2", NOW, SELLER, {"l1": 3})
    assert (line.partially_shipped, line.shipped_qty, line.state, order.status) == (False, 5, "shipped", "shipped")
    assert line.shipments == [("T1", 2), ("T2", 3)] and line.tracking_number == "T2"


def test_r27_a_released_remainder_may_ship_as_the_whole_line() -> None:
    order = accepted({"l1": [regular(1), backorder(1)], "l2": [regular(1)]}, ("l1", "sku-a", 2), ("l2", "sku-b", 1))
    order.ship(["l2"], "T1", NOW, SELLER, {"l1": 1})
    assert order.status == "partially_shipped"
    order.release("l1", "wh-1", 1)

    order.ship(["l1"], "T2", NOW, SELLER)

    assert [line.state for line in order.lines] == ["shipped", "shipped"] and order.status == "shipped"


def test_r27_the_same_split_shipment_again_changes_nothing() -> None:
    order = accepted({"l1": [regular(2), backorder(3)]}, ("l1", "sku-a", 5))
    order.ship([], "T1", NOW, SELLER, {"l1": 2})

    assert order.ship([], "T1", NOW, SELLER, {"l1": 2}) == []
    assert order.lines[0].shipped_qty == 2


@pytest.mark.parametrize(("qty", "reason"), [(6, "exceeds_line"), (3, "not_released")])
def test_r27_more_units_than_the_line_holds_or_not_released_are_refused_and_nothing_changes(
        qty: int, reason: str) -> None:
    order = accepted({"l1": [regular(2), backorder(3)], "l2": [regular(1)]}, ("l1", "sku-a", 5), ("l2", "sku-b", 1))
    before = snapshot(order)

    rejected_with(reason, order.ship, ["l2"], "T1", NOW, SELLER, {"l1": qty})

    assert order == before  # l2 did not ship either: nothing half-applied


def test_r27_units_already_shipped_count_against_the_line() -> None:
    order = accepted({"l1": [regular(2), backorder(3)]}, ("l1", "sku-a", 5))
    order.ship([], "T1", NOW, SELLER, {"l1": 2})
    order.release("l1", "wh-1", 3)

    rejected_with("exceeds_line", order.ship, [], "T2", NOW, SELLER, {"l1": 4})


def test_r27_a_partly_shipped_line_cannot_be_cancelled_nor_shipped_by_a_buyer() -> None:
    order = accepted({"l1": [regular(2), backorder(3)]}, ("l1", "sku-a", 5))
    rejected_with("forbidden", order.ship, [], "T1", NOW, BUYER, {"l1": 2})
    order.ship([], "T1", NOW, SELLER, {"l1": 2})

    rejected_with("already_shipped", order.cancel, ["l1"], "buyer_request", NOW, BUYER)
