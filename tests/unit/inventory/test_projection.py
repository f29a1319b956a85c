"""R28: projected fill dates of waiting backorders, against inbounds in arrival order."""

from __future__ import annotations

from datetime import date

import pytest

from services.inventory.projection import OpenInbound, QueuedPart, changed, check_inbound, project, receipt_mismatch
from shared.domain import Rejection

D1, D2, D3 = date(2026, 12, 10), date(2026, 12, 17), date(2026, 12, 24)


def part(n: int, qty: int, warehouse: str = "wh-1") -> QueuedPart:
    return QueuedPart(f"o{n}", "l1", 1, warehouse, qty)


def days(parts: list[QueuedPart]) -> list[tuple[date | None, str | None]]:
    return [(p.projected_on, p.inbound_id) for p in parts]


def test_r28_queue_takes_inbounds_in_arrival_order() -> None:
    queue = [part(1, 3), part(2, 4), part(3, 2)]
    inbounds = [OpenInbound("po-b", "wh-1", 5, D2), OpenInbound("po-a", "wh-1", 4, D1)]

    # the caller passes inbounds in arrival order
    out = project(queue, sorted(inbounds, key=lambda i: i.expected_on))

    # o1 takes 3 of po-a; o2 takes 1 of po-a and 3 of po-b (its last unit: D2); o3 takes the last 2 of po-b
    assert days(out) == [(D1, "po-a"), (D2, "po-b"), (D2, "po-b")]


def test_r28_a_part_not_covered_and_everything_behind_it_has_no_date() -> None:
    queue = [part(1, 3), part(2, 5), part(3, 1)]
    out = project(queue, [OpenInbound("po-a", "wh-1", 4, D1), OpenInbound("po-b", "wh-1", 0, D3)])

    # o2 would need 5 but only 1 unit is left; o3 is behind it and gets nothing either
    assert days(out) == [(D1, "po-a"), (None, None), (None, None)]


def test_r28_inbounds_serve_their_own_warehouse_only() -> None:
    queue = [part(1, 2, "wh-1"), part(2, 2, "wh-2")]
    out = project(queue, [OpenInbound("po-a", "wh-2", 5, D1)])
    assert days(out) == [(None, None), (D1, "po-a")]


def test_r28_only_parts_whose_date_moved_are_changed() -> None:
    before = project([part(1, 2), part(2, 2)], [OpenInbound("po-a", "wh-1", 4, D1)])
    after = project(before, [OpenInbound("po-a", "wh-1", 3, D1), OpenInbound("po-b", "wh-1", 5, D3)])
    assert days(changed(before, after)) == [(D3, "po-b")]


@pytest.mark.parametrize(("qty", "day", "reason"), [(0, D1, "invalid_qty"), (-3, D1, "invalid_qty"),
                                                    (5, date(2026, 12, 5), "date_in_past")])
def test_r28_bad_inbound_is_refused(qty: int, day: date, reason: str) -> None:
    with pytest.raises(Rejection) as refused:
        check_inbound(qty, day, today=date(2026, 12, 6))
    assert refused.value.reason == reason


def test_r28_receipt_naming_an_inbound_it_cannot_fulfil_is_a_mismatch() -> None:
    po: dict[str, object] = {"sku_id": "s", "warehouse_id": "wh-1", "state": "open"}
    assert receipt_mismatch(po, "s", "wh-1") is None
    assert receipt_mismatch(None, "s", "wh-1") == "unknown_inbound"
    assert receipt_mismatch({**po, "state": "cancelled"}, "s", "wh-1") == "inbound_cancelled"
    assert receipt_mismatch({**po, "state": "received"}, "s", "wh-1") == "inbound_received"
    assert receipt_mismatch({**po, "state": "received"}, "t", "wh-2") == "inbound_received"  # checked first
    assert receipt_mismatch(po, "t", "wh-1") == "other_sku"
    assert receipt_mismatch(po, "s", "wh-2") == "other_warehouse"


def test_r28_a_part_covered_exactly_is_dated_by_that_inbound_not_the_next() -> None:
    out = project([part(1, 1), part(2, 2)], [OpenInbound("po-a", "wh-1", 1, D1), OpenInbound("po-b", "wh-1", 2, D2)])
    assert days(out) == [(D1, "po-a"), (D2, "po-b")]


def test_r28_an_inbound_left_half_used_serves_the_next_part() -> None:
    out = project([part(1, 1), part(2, 1), part(3, 1)], [OpenInbound("po-a", "wh-1", 2, D1),
                                                         OpenInbound("po-b", "wh-1", 1, D2)])
    assert days(out) == [(D1, "po-a"), (D1, "po-a"), (D2, "po-b")]


def test_r28_a_part_one_unit_short_has_no_date() -> None:
    out = project([part(1, 3)], [OpenInbound("po-a", "wh-1", 2, D1)])
    assert days(out) == [(None, None)]


def test_r28_changed_compares_the_same_queue_only() -> None:
    with pytest.raises(ValueError):
        changed([part(1, 1)], [])


@pytest.mark.parametrize(("qty", "day"), [(1, date(2026, 12, 6)), (None, date(2026, 12, 6)), (1, None),
                                          (None, None)])
def test_r28_one_unit_arriving_today_or_a_change_of_one_field_is_accepted(qty: int | None,
                                                                           day: date | None) -> None:
    check_inbound(qty, day, today=date(2026, 12, 6))


def test_r28_a_refused_inbound_says_why_with_its_figures() -> None:
    with pytest.raises(Rejection) as refused:
        check_inbound(0, None, today=date(2026, 12, 6))
    assert refused.value.message == "an inbound brings at least one unit, not 0"
    with pytest.raises(Rejection) as refused:
        check_inbound(None, date(2026, 12, 5), today=date(2026, 12, 6))
    assert refused.value.message == "the expected arrival 2026-12-05 is in the past (today is 2026-12-06)"
