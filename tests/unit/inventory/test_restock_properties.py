"""Properties of the pure restock functions (R11, R19) and of the low-stock alert (R10)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from services.inventory import domain
from services.inventory.domain import Level, Policy, WaitingPart

T0 = datetime(2026, 11, 23, tzinfo=UTC)


@st.composite
def queues(draw: st.DrawFn) -> list[WaitingPart]:
    """Waiting parts with distinct arrival numbers; placements and priorities may tie."""
    count = draw(st.integers(0, 25))
    seqs = draw(st.permutations(range(count)))
    return [WaitingPart(f"o{n}", "l1", 1, draw(st.integers(1, 5)),
                        draw(st.sampled_from([0, 0, 0, 5, 10])),
                        T0 + timedelta(minutes=draw(st.integers(0, 10))), seqs[n])
            for n in range(count)]


@given(st.integers(0, 80), queues())
def test_r11_r19_restock_fills_in_queue_order_and_never_more_than_received(units: int,
                                                                          waiting: list[WaitingPart]) -> None:
    fills = domain.fill_waiting(units, waiting)

    queue = sorted(waiting, key=lambda p: (-p.priority, p.placed_at, p.seq))
    assert [f.part for f in fills] == queue[:len(fills)]  # a prefix of the queue: priority, then oldest
    assert sum(f.qty for f in fills) == min(units, sum(p.qty for p in waiting))  # never more than received
    assert all(0 < f.qty <= f.part.qty for f in fills)
    assert all(f.whole for f in fills[:-1])  # only the last one may be filled partly
    if fills and not fills[-1].whole:
        assert sum(f.qty for f in fills) == units


@given(st.integers(0, 80), queues())
def test_r19_an_explicit_priority_goes_first_then_placement(units: int, waiting: list[WaitingPart]) -> None:
    fills = domain.fill_waiting(units, waiting)

    filled = {(f.part.order_id, f.part.seq) for f in fills}
    for part in waiting:
        if (part.order_id, part.seq) in filled:
            continue
        for fill in fills:  # whoever was served ranks before whoever was not
            assert (-fill.part.priority, fill.part.placed_at, fill.part.seq) < (-part.priority, part.placed_at,
                                                                                 part.seq)


@st.composite
def restock(draw: st.DrawFn) -> tuple[Level, list[Level], Policy, int]:
    on_hand = draw(st.integers(0, 20))
    limit = draw(st.integers(0, 20))
    level = Level("sku-1", "wh-a", on_hand, draw(st.integers(0, on_hand)), limit, draw(st.integers(0, limit)))
    other = Level("sku-1", "wh-b", draw(st.integers(0, 10)))
    return level, [level, other], Policy("sku-1", safety_stock=draw(st.integers(0, 15))), draw(st.integers(0, 20))


@given(restock())
def test_r11_receipt_units_go_to_waiting_backorders_first(case: tuple[Level, list[Level], Policy, int]) -> None:
    level, levels, policy, received = case
    level.on_hand += received

    budget = domain.fill_budget(level, levels, policy, received)

    assert 0 <= budget <= level.free_regular
    if level.backorder_allocated:
        assert budget >= received  # the receipt itself always serves the waiting orders (R11)
        assert budget >= min(level.free_regular, domain.available_to_promise(levels, policy))
    else:
        assert budget == 0


@given(restock(), queues())
def test_r11_a_restock_never_creates_backorder_capacity(case: tuple[Level, list[Level], Policy, int],
                                                       waiting: list[WaitingPart]) -> None:
    level, levels, policy, received = case
    total = sum(p.qty for p in waiting)
    level.backorder_limit += total
    level.backorder_allocated += total
    domain.receive(level, received)
    free_backorder, free_regular = level.free_backorder, level.free_regular

    fills = domain.fill_waiting(domain.fill_budget(level, levels, policy, received), waiting)
    movements = domain.apply_fills(level, fills)

    level.check()
    filled = sum(f.qty for f in fills)
    assert level.free_backorder == free_backorder
    assert level.free_regular == free_regular - filled
    assert sum(m.allocated for m in movements) == filled
    assert all(m.kind == domain.BACKORDER_FILL for m in movements)


@given(st.integers(0, 10), st.lists(st.integers(0, 20), max_size=40))
def test_r10_low_stock_alerts_once_per_downward_crossing(threshold: int, atps: list[int]) -> None:
    policy = Policy("sku-1", low_stock_threshold=threshold)
    alerts, expected, below = 0, 0, False
    for atp in atps:
        alert, alerted = domain.low_stock_transition(policy, atp)
        policy = replace(policy, low_stock_alerted=alerted)
        alerts += alert
        expected += atp < threshold and not below
        below = atp < threshold
    assert alerts == expected


def test_r10_no_threshold_no_alert() -> None:
    assert domain.low_stock_transition(Policy("sku-1"), 0) == (False, False)
