"""Properties of the pure allocation functions (R07-R09, R10's safety stock, R17), for any levels.

No I/O: levels, policies and orders are generated; the functions decide.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Sequence

from hypothesis import given
from hypothesis import strategies as st

from services.inventory import domain
from services.inventory.allocation import allocate_order, plan_line
from services.inventory.domain import BACKORDER, REGULAR, HeldPart, Level, LineRequest, Part, Policy

WAREHOUSES = ("wh-a", "wh-b", "wh-c", "wh-d")


@st.composite
def levels_of(draw: st.DrawFn, sku_id: str = "sku-1") -> list[Level]:
    levels = []
    for warehouse in draw(st.lists(st.sampled_from(WAREHOUSES), min_size=0, max_size=4, unique=True)):
        on_hand = draw(st.integers(0, 20))
        limit = draw(st.integers(0, 20))
        levels.append(Level(sku_id, warehouse, on_hand, draw(st.integers(0, on_hand)), limit,
                            draw(st.integers(0, limit)), draw(st.integers(1, 3))))
    return levels


policies = st.builds(Policy, sku_id=st.just("sku-1"), backorder_enabled=st.booleans(),
                     safety_stock=st.integers(0, 10))


def capacity(levels: Sequence[Level], policy: Policy) -> int:
    """The most one line can take: promisable regular stock, plus backorder stock while on backorder."""
    backorder = sum(lv.free_backorder for lv in levels) if policy.backorder_enabled else 0
    return domain.available_to_promise(levels, policy) + backorder


@st.composite
def fillable(draw: st.DrawFn) -> tuple[list[Level], Policy, int]:
    """Levels, a policy and a quantity that can be filled (with some free stock added if there was none)."""
    levels, policy = draw(levels_of()), draw(policies)
    if capacity(levels, policy) == 0:
        levels.append(Level("sku-1", "wh-z", policy.safety_stock + draw(st.integers(1, 5)), 0, 0, 0, 2))
    return levels, policy, draw(st.integers(1, capacity(levels, policy)))


def free(levels: Sequence[Level], source: str) -> dict[str, int]:
    return {lv.warehouse_id: lv.free_regular if source == REGULAR else lv.free_backorder for lv in levels}


def taken(parts: Sequence[Part], source: str) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for part in parts:
        if part.source == source:
            out[part.warehouse_id] += part.qty
    return out


def fewest_warehouses(free_units: dict[str, int], qty: int) -> int:
    """The least number of warehouses whose free units add up to ``qty``."""
    if qty == 0:
        return 0
    total = 0
    for n, units in enumerate(sorted(free_units.values(), reverse=True), start=1):
        total += units
        if total >= qty:
            return n
    raise AssertionError("not enough units")


# ---------------------------------------------------------------- plan_line


@given(levels_of(), policies, st.integers(1, 60))
def test_r08_a_line_is_filled_exactly_or_not_at_all(levels: list[Level], policy: Policy, qty: int) -> None:
    parts = plan_line(qty, levels, policy)

    assert (parts is None) == (qty > capacity(levels, policy))
    if parts is not None:
        assert sum(p.qty for p in parts) == qty  # the parts sum to the line quantity (R09)
        assert all(p.qty > 0 for p in parts)


@given(fillable())
def test_r08_no_part_takes_more_than_its_ledger_holds(case: tuple[list[Level], Policy, int]) -> None:
    levels, policy, qty = case
    parts = plan_line(qty, levels, policy)
    assert parts is not None

    for source in (REGULAR, BACKORDER):
        available = free(levels, source)
        for warehouse, units in taken(parts, source).items():
            assert units <= available[warehouse]
    assert sum(taken(parts, REGULAR).values()) <= domain.available_to_promise(levels, policy)  # safety stock kept


@given(fillable())
def test_r07_regular_before_backorder(case: tuple[list[Level], Policy, int]) -> None:
    levels, policy, qty = case
    parts = plan_line(qty, levels, policy)
    assert parts is not None

    regular = sum(taken(parts, REGULAR).values())
    assert regular == min(qty, domain.available_to_promise(levels, policy))  # all promisable regular first
    if not policy.backorder_enabled:
        assert all(p.source == REGULAR for p in parts)
    assert [p.source for p in parts] == sorted((p.source for p in parts), key=[REGULAR, BACKORDER].index)


@given(fillable())
def test_r09_warehouse_strategy(case: tuple[list[Level], Policy, int]) -> None:
    levels, policy, qty = case
    """One whole warehouse by priority when one can fill a source's share, else the fewest warehouses."""
    parts = plan_line(qty, levels, policy)
    assert parts is not None

    for source in (REGULAR, BACKORDER):
        share = taken(parts, source)
        units = sum(share.values())
        available = free(levels, source)
        whole = [lv for lv in levels if available[lv.warehouse_id] >= units > 0]
        if whole:
            best = min(lv.priority for lv in whole)
            assert len(share) == 1
            assert next(lv for lv in levels if lv.warehouse_id in share).priority == best
        else:
            assert len(share) == fewest_warehouses(available, units)


@given(levels_of(), policies)
def test_r10_safety_stock_is_per_sku_across_warehouses(levels: list[Level], policy: Policy) -> None:
    """However the free stock is spread over warehouses, the SKU promises the same, and no
    warehouse promises more than the SKU; total = in stock + backorder."""
    gathered = [Level("sku-1", "wh-a", sum(lv.free_regular for lv in levels))]
    assert domain.available_to_promise(levels, policy) == domain.available_to_promise(gathered, policy)

    views = [domain.seller_view(lv, levels, policy) for lv in levels]
    for level, view in zip(levels, views, strict=True):
        assert view.available_to_promise == min(level.free_regular, view.sku_available_to_promise)
        assert view.total == view.in_stock + view.backorder
        assert view.backorder == (level.free_backorder if policy.backorder_enabled else 0)
    if views:
        assert sum(v.total for v in views) == views[0].sku_total
        assert sum(v.available_to_promise for v in views) >= views[0].sku_available_to_promise


# ---------------------------------------------------------------- allocate_order


@st.composite
def shop(draw: st.DrawFn) -> tuple[dict[str, dict[str, Level]], dict[str, Policy], list[list[LineRequest]]]:
    skus = ("sku-1", "sku-2", "sku-3")
    levels = {sku: {lv.warehouse_id: lv for lv in draw(levels_of(sku))} for sku in skus}
    pols = {sku: Policy(sku, backorder_enabled=draw(st.booleans()), safety_stock=draw(st.integers(0, 5)))
            for sku in skus}
    orders = draw(st.lists(st.lists(st.builds(LineRequest, line_id=st.just(""), sku_id=st.sampled_from(skus),
                                              qty=st.integers(1, 15)), min_size=1, max_size=4),
                           min_size=1, max_size=25))
    orders = [[LineRequest(f"l{n}", line.sku_id, line.qty) for n, line in enumerate(order)] for order in orders]
    return levels, pols, orders


def snapshot(levels: dict[str, dict[str, Level]]) -> dict[tuple[str, str], tuple[int, int, int, int]]:
    return {(lv.sku_id, lv.warehouse_id): (lv.on_hand, lv.allocated, lv.backorder_limit, lv.backorder_allocated)
            for sku_levels in levels.values() for lv in sku_levels.values()}


@given(shop())
def test_r08_orders_all_or_nothing_and_never_oversold(world: tuple[dict[str, dict[str, Level]], dict[str, Policy],
                                                                   list[list[LineRequest]]]) -> None:
    levels, pols, orders = world
    for number, lines in enumerate(orders):
        before = snapshot(levels)
        allocation = allocate_order(f"o{number}", lines, levels, pols)

        for sku_levels in levels.values():
            for level in sku_levels.values():
                level.check()  # 0 <= allocated <= on_hand, 0 <= backorder_allocated <= backorder_limit
        if not allocation.accepted:
            assert snapshot(levels) == before  # nothing stays allocated
            assert allocation.lines == {}
            assert set(allocation.rejected_lines) <= {line.line_id for line in lines}
            continue
        assert set(allocation.lines) == {line.line_id for line in lines}
        moved: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
        for line in lines:
            parts = allocation.lines[line.line_id]
            assert sum(p.qty for p in parts) == line.qty
            for part in parts:
                moved[(line.sku_id, part.warehouse_id)][part.source == BACKORDER] += part.qty
        after = snapshot(levels)
        for key, (regular, backorder) in moved.items():
            assert after[key][1] - before[key][1] == regular
            assert after[key][3] - before[key][3] == backorder


@given(shop())
def test_r08_a_rejected_order_names_only_lines_that_cannot_be_filled(
        world: tuple[dict[str, dict[str, Level]], dict[str, Policy], list[list[LineRequest]]]) -> None:
    levels, pols, orders = world
    lines = orders[0]
    allocation = allocate_order("o", lines, copy.deepcopy(levels), pols)
    alone = {line.line_id: plan_line(line.qty, list(levels[line.sku_id].values()), pols[line.sku_id])
             for line in lines}
    # a line that cannot be filled on its own is always named
    assert {lid for lid, parts in alone.items() if parts is None} <= set(allocation.rejected_lines)
    assert allocation.accepted == (not allocation.rejected_lines)


@given(shop())
def test_r17_releasing_every_part_restores_the_levels(
        world: tuple[dict[str, dict[str, Level]], dict[str, Policy], list[list[LineRequest]]]) -> None:
    levels, pols, orders = world
    before = snapshot(levels)
    held: list[HeldPart] = []
    for number, lines in enumerate(orders):
        allocation = allocate_order(f"o{number}", lines, levels, pols)
        sku_of = {line.line_id: line.sku_id for line in lines}
        for line_id, parts in allocation.lines.items():
            held += [HeldPart(f"o{number}", line_id, n, sku_of[line_id], p.warehouse_id, p.source, p.qty,
                              domain.ALLOCATED if p.source == REGULAR else domain.WAITING)
                     for n, p in enumerate(parts, start=1)]

    for part in held:
        movement = domain.release(levels[part.sku_id][part.warehouse_id], part)
        assert movement.kind == (domain.RELEASE if part.source == REGULAR else domain.BACKORDER_RELEASE)

    assert snapshot(levels) == before
