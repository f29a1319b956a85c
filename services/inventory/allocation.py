"""Allocating an order to stock (R07-R09). Pure: levels in, parts and movements out; no I/O.

An order is allocated all lines or nothing (R08). Each line takes regular stock first, up to
its SKU's available-to-promise, and backorder stock only for the rest, while the SKU is on
backorder (R07); a line may be split over sources and warehouses (R09).

Warehouse strategy (``pick_warehouses``), applied to a line's regular quantity and then
to its backorder quantity:

1. one warehouse that can fill the whole quantity, if any: the best configured priority
   (lower first), then the most free units (keeps warehouses balanced), then the id;
2. otherwise the fewest warehouses: largest free quantity first (taking the largest
   first is optimal for the count), ties by priority, then id.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from services.inventory.domain import (
    ALLOCATION,
    BACKORDER,
    BACKORDER_ALLOCATION,
    REGULAR,
    Allocation,
    Level,
    LineRequest,
    Movement,
    Part,
    Policy,
    Source,
    available_to_promise,
)


def pick_warehouses(levels: Sequence[Level], qty: int, free: Callable[[Level], int], source: Source) -> list[Part]:
    """Split ``qty`` over warehouses by the strategy in the module docstring.

    The caller makes sure the warehouses hold ``qty`` free units in all; parts never take
    more than a warehouse's ``free`` units."""
    if qty <= 0:
        return []
    whole = [level for level in levels if free(level) >= qty]
    if whole:
        best = min(whole, key=lambda lv: (lv.priority, -free(lv), lv.warehouse_id))
        return [Part(best.warehouse_id, source, qty)]
    parts: list[Part] = []
    remaining = qty
    for level in sorted(levels, key=lambda lv: (-free(lv), lv.priority, lv.warehouse_id)):
        take = min(free(level), remaining)
        if take <= 0:
            break
        parts.append(Part(level.warehouse_id, source, take))
        remaining -= take
        if remaining == 0:
            break
    return parts


def plan_line(qty: int, levels: Sequence[Level], policy: Policy) -> list[Part] | None:
    """Regular stock first (up to the SKU's ATP), backorder only for the rest and only while
    the SKU is on backorder (R07); split over sources and warehouses as needed (R09).
    None when the line cannot be filled (R08)."""
    regular = min(qty, available_to_promise(levels, policy))
    rest = qty - regular
    if rest and (not policy.backorder_enabled or sum(lv.free_backorder for lv in levels) < rest):
        return None
    return (pick_warehouses(levels, regular, lambda lv: lv.free_regular, REGULAR)
            + pick_warehouses(levels, rest, lambda lv: lv.free_backorder, BACKORDER))


def apply_parts(levels: dict[str, Level], parts: Iterable[Part], sign: int = 1) -> None:
    for part in parts:
        level = levels[part.warehouse_id]
        if part.source == REGULAR:
            level.allocated += sign * part.qty
        else:
            level.backorder_allocated += sign * part.qty


def allocate_order(
    order_id: str,
    lines: Sequence[LineRequest],
    levels: dict[str, dict[str, Level]],
    policies: dict[str, Policy],
) -> Allocation:
    """All lines or nothing (R08): on any unfillable line the levels are left as they were and
    the result names every line that could not be filled."""
    result = Allocation(order_id)
    applied: list[tuple[str, list[Part]]] = []
    for line in lines:
        sku_levels = levels.setdefault(line.sku_id, {})
        policy = policies.get(line.sku_id, Policy(line.sku_id))
        parts = plan_line(line.qty, list(sku_levels.values()), policy)
        if parts is None:
            result.rejected_lines.append(line.line_id)
            continue
        apply_parts(sku_levels, parts)
        applied.append((line.sku_id, parts))
        result.lines[line.line_id] = parts
    if result.rejected_lines:
        for sku_id, parts in applied:
            apply_parts(levels[sku_id], parts, sign=-1)
        result.lines.clear()
    return result


def allocation_movements(order_id: str, lines: Sequence[LineRequest], allocation: Allocation) -> list[Movement]:
    sku_of = {line.line_id: line.sku_id for line in lines}
    movements = []
    for line_id, parts in allocation.lines.items():
        for part in parts:
            if part.source == REGULAR:
                movements.append(Movement(sku_of[line_id], part.warehouse_id, ALLOCATION, allocated=part.qty,
                                          order_id=order_id, line_id=line_id))
            else:
                movements.append(Movement(sku_of[line_id], part.warehouse_id, BACKORDER_ALLOCATION,
                                          backorder_allocated=part.qty, order_id=order_id, line_id=line_id))
    return movements
