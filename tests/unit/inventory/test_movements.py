"""R12: every change of a stock level is one ledger row that says exactly what moved and for whom. The pure
functions of ``services/inventory/domain.py`` and ``allocation.py``, each row pinned whole, with the level it
leaves behind."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.inventory import domain
from services.inventory.allocation import allocation_movements
from services.inventory.domain import (
    Allocation,
    Fill,
    HeldPart,
    Level,
    LineRequest,
    Movement,
    Part,
    Policy,
    WaitingPart,
)
from shared.domain import Rejection

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def lv(**figures: int) -> Level:
    return Level("sku-1", "wh-1", **figures)


def held(state: str, qty: int = 2, source: str = "backorder") -> HeldPart:
    return HeldPart("o1", "l1", 0, "sku-1", "wh-1", source, qty, state)  # type: ignore[arg-type]


def waiting(qty: int, warehouse_id: str | None = None) -> WaitingPart:
    return WaitingPart("o1", "l1", 0, qty, 0, T0, 1, warehouse_id)


def test_r12_a_receipt_adds_on_hand() -> None:
    level = lv(on_hand=3)
    assert domain.receive(level, 4) == Movement("sku-1", "wh-1", "receipt", on_hand=4)
    assert level.on_hand == 7


def test_r08_r12_a_count_sets_on_hand_and_records_the_difference() -> None:
    level = lv(on_hand=5, allocated=2)
    assert domain.count(level, 2) == Movement("sku-1", "wh-1", "count", on_hand=-3)  # down to what is allocated
    assert level.on_hand == 2
    assert domain.count(level, 9) == Movement("sku-1", "wh-1", "count", on_hand=7)
    with pytest.raises(Rejection) as refused:
        domain.count(level, 1)
    assert refused.value.reason == "count_below_allocated"
    assert level.on_hand == 9  # a refused count changes nothing


def test_r06_r12_backorder_available_is_on_top_of_what_is_promised() -> None:
    level = lv(backorder_limit=10, backorder_allocated=4)
    assert domain.set_backorder_available(level, 3) == Movement("sku-1", "wh-1", "backorder_limit",
                                                                backorder_limit=-3)
    assert (level.backorder_limit, level.backorder_allocated) == (7, 4)
    assert domain.set_backorder_available(level, 8).backorder_limit == 5
    assert level.backorder_limit == 12


def test_r17_r12_a_released_part_gives_back_what_it_held() -> None:
    level = lv(on_hand=5, allocated=3, backorder_limit=6, backorder_allocated=4)
    assert domain.release(level, held("waiting")) == Movement(
        "sku-1", "wh-1", "backorder_release", backorder_allocated=-2, order_id="o1", line_id="l1")
    assert domain.release(level, held("allocated", 1, "regular")) == Movement(
        "sku-1", "wh-1", "release", allocated=-1, order_id="o1", line_id="l1")
    assert level == lv(on_hand=5, allocated=2, backorder_limit=6, backorder_allocated=2)


def test_r16_r12_a_shipped_part_leaves_the_warehouse() -> None:
    level = lv(on_hand=5, allocated=3, backorder_limit=6, backorder_allocated=4)
    assert domain.ship(level, held("filled", 3)) == Movement(
        "sku-1", "wh-1", "shipment", on_hand=-3, allocated=-3, order_id="o1", line_id="l1")
    # shipped while still waiting: from stock the ledger never saw, its backorder promise is used up
    assert domain.ship(level, held("waiting")) == Movement(
        "sku-1", "wh-1", "backorder_shipment", backorder_limit=-2, backorder_allocated=-2, order_id="o1",
        line_id="l1")
    assert level == lv(on_hand=2, allocated=0, backorder_limit=4, backorder_allocated=2)


def test_r11_r12_a_fill_moves_backorder_units_to_allocated_stock() -> None:
    level = lv(on_hand=4, backorder_limit=6, backorder_allocated=3)
    assert domain.apply_fills(level, [Fill(waiting(3), 2)]) == [Movement(
        "sku-1", "wh-1", "backorder_fill", allocated=2, backorder_limit=-2, backorder_allocated=-2, order_id="o1",
        line_id="l1")]
    assert level == lv(on_hand=4, allocated=2, backorder_limit=4, backorder_allocated=1)


def test_r31_r12_a_transfer_fill_is_a_row_in_each_warehouse() -> None:
    here, there = lv(on_hand=4), Level("sku-1", "wh-2", backorder_limit=5, backorder_allocated=2)
    assert domain.apply_fills(here, [Fill(waiting(2, "wh-2"), 2)], {"wh-2": there}) == [
        Movement("sku-1", "wh-1", "transfer_fill", allocated=2, order_id="o1", line_id="l1"),
        Movement("sku-1", "wh-2", "transfer_fill", backorder_limit=-2, backorder_allocated=-2, order_id="o1",
                 line_id="l1")]
    assert (here.allocated, there.backorder_limit, there.backorder_allocated) == (2, 3, 0)


def test_r12_an_allocation_is_a_row_per_part_by_source() -> None:
    lines = [LineRequest("l1", "sku-1", 3), LineRequest("l2", "sku-2", 1)]
    allocation = Allocation("o1", {"l1": [Part("wh-1", "regular", 1), Part("wh-2", "backorder", 2)],
                                   "l2": [Part("wh-3", "backorder", 1)]})
    assert allocation_movements("o1", lines, allocation) == [
        Movement("sku-1", "wh-1", "allocation", allocated=1, order_id="o1", line_id="l1"),
        Movement("sku-1", "wh-2", "backorder_allocation", backorder_allocated=2, order_id="o1", line_id="l1"),
        Movement("sku-2", "wh-3", "backorder_allocation", backorder_allocated=1, order_id="o1", line_id="l2"),
    ]


@pytest.mark.parametrize(("before", "after", "ran_out"), [
    (True, True, True),
    (False, True, False),  # put on backorder in this transaction: nothing ran out
    (True, False, False),  # taken off backorder: the seller's doing
])
def test_r32_backorder_runs_out_only_while_on_backorder_before_and_after(before: bool, after: bool,
                                                                        ran_out: bool) -> None:
    def levels(allocated: int) -> list[Level]:
        return [lv(backorder_limit=3, backorder_allocated=allocated)]

    assert domain.backorder_ran_out(levels(1), Policy("sku-1", backorder_enabled=before), levels(3),
                                    Policy("sku-1", backorder_enabled=after)) is ran_out


def test_r11_only_received_units_fill_when_nothing_is_free_to_promise() -> None:
    level = lv(on_hand=3, backorder_limit=5, backorder_allocated=2)
    policy = Policy("sku-1", backorder_enabled=True, safety_stock=3)  # nothing to promise to new orders
    assert domain.fill_budget(level, [level], policy) == 0
    assert domain.fill_budget(level, [level], policy, received=2) == 2


def test_r12_a_level_outside_its_invariant_is_caught_on_either_side() -> None:
    for broken in (lv(on_hand=1, allocated=2), lv(backorder_limit=1, backorder_allocated=2)):
        with pytest.raises(AssertionError, match="sku-1@wh-1"):
            broken.check()
    lv(on_hand=2, allocated=2, backorder_limit=1, backorder_allocated=1).check()


def test_r08_a_refused_count_says_what_is_allocated() -> None:
    with pytest.raises(Rejection) as refused:
        domain.count(lv(on_hand=5, allocated=2), 1)
    assert refused.value.message == "2 units of sku-1 in wh-1 are allocated to orders; a count of 1 is too low"


def test_r16_shipping_a_waiting_part_uses_up_only_its_own_promise() -> None:
    level = lv(backorder_limit=7, backorder_allocated=5)
    domain.ship(level, held("waiting", 2))
    assert (level.backorder_limit, level.backorder_allocated) == (5, 3)


def test_r08_an_order_of_a_sku_inventory_never_heard_of_is_refused_by_line() -> None:
    from services.inventory.allocation import allocate_order

    levels: dict[str, dict[str, Level]] = {"sku-1": {"wh-1": lv(on_hand=2)}}
    result = allocate_order("o1", [LineRequest("l1", "sku-1", 1), LineRequest("l2", "sku-new", 1)], levels, {})
    assert (result.order_id, result.lines, result.rejected_lines) == ("o1", {}, ["l2"])
    assert levels == {"sku-1": {"wh-1": lv(on_hand=2)}, "sku-new": {}}  # nothing held, all or nothing


def test_r09_of_the_warehouses_that_hold_a_whole_line_the_one_with_most_free_units_ships_it() -> None:
    from services.inventory.allocation import pick_warehouses

    levels = [Level("sku-1", "wh-a", on_hand=3), Level("sku-1", "wh-b", on_hand=5), Level("sku-1", "wh-c", on_hand=1)]
    assert pick_warehouses(levels, 2, lambda level: level.free_regular, "regular") == [Part("wh-b", "regular", 2)]
