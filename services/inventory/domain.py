"""Inventory rules R07-R12, R17, R19. Pure: levels in, decisions and movements out.

Levels of one SKU in one warehouse::

    on_hand              units physically in stock (regular ledger)
    allocated            of those, units reserved for orders (regular parts and filled backorder parts)
    backorder_limit      units the seller allows to sell on backorder (set by catalog)
    backorder_allocated  of those, units promised to orders and still waiting for stock

Invariants (also database CHECK constraints): 0 <= allocated <= on_hand and
0 <= backorder_allocated <= backorder_limit. A receipt that fills a waiting part moves
it from the backorder ledger to the regular one: backorder_allocated and backorder_limit
go down, on_hand and allocated go up, so a restock never creates backorder capacity.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime

REGULAR, BACKORDER = "regular", "backorder"


@dataclass
class Level:
    sku_id: str
    warehouse_id: str
    on_hand: int = 0
    allocated: int = 0
    backorder_limit: int = 0
    backorder_allocated: int = 0
    priority: int = 100

    @property
    def free_regular(self) -> int:
        return self.on_hand - self.allocated

    @property
    def free_backorder(self) -> int:
        return self.backorder_limit - self.backorder_allocated

    def check(self) -> None:
        if not (0 <= self.allocated <= self.on_hand and 0 <= self.backorder_allocated <= self.backorder_limit):
            raise AssertionError(f"inventory invariant broken for {self.sku_id}@{self.warehouse_id}: {self}")


@dataclass(frozen=True)
class Policy:
    sku_id: str
    seller_id: str | None = None
    backorder_enabled: bool = False
    safety_stock: int = 0
    low_stock_threshold: int | None = None
    low_stock_alerted: bool = False


@dataclass(frozen=True)
class Part:
    warehouse_id: str
    source: str
    qty: int


@dataclass(frozen=True)
class LineRequest:
    line_id: str
    sku_id: str
    qty: int


@dataclass(frozen=True)
class Movement:
    """One ledger row: the change of one level and why (R12)."""

    sku_id: str
    warehouse_id: str
    kind: str
    on_hand: int = 0
    allocated: int = 0
    backorder_limit: int = 0
    backorder_allocated: int = 0
    order_id: str | None = None
    line_id: str | None = None


@dataclass
class Allocation:
    order_id: str
    lines: dict[str, list[Part]] = field(default_factory=dict)
    rejected_lines: list[str] = field(default_factory=list)

    @property
    def accepted(self) -> bool:
        return not self.rejected_lines


def available_to_promise(levels: Iterable[Level], policy: Policy) -> int:
    """Regular stock free to sell, less the SKU's safety stock (R10)."""
    return max(0, sum(level.free_regular for level in levels) - policy.safety_stock)


def pick_warehouses(levels: list[Level], qty: int, free: Callable[[Level], int], source: str) -> list[Part]:
    """The warehouse strategy: one warehouse that can fill the whole quantity (best priority,
    then most free stock, then id); otherwise the fewest warehouses, largest first."""
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
            continue
        parts.append(Part(level.warehouse_id, source, take))
        remaining -= take
        if remaining == 0:
            break
    return parts


def plan_line(qty: int, levels: list[Level], policy: Policy) -> list[Part] | None:
    """Regular stock first, backorder only once regular is exhausted (R07), split as needed (R09).
    None when the line cannot be filled (R08)."""
    regular = min(qty, available_to_promise(levels, policy))
    parts = pick_warehouses(levels, regular, lambda lv: lv.free_regular, REGULAR)
    rest = qty - regular
    if rest == 0:
        return parts
    if not policy.backorder_enabled or sum(lv.free_backorder for lv in levels) < rest:
        return None
    return parts + pick_warehouses(levels, rest, lambda lv: lv.free_backorder, BACKORDER)


def apply_parts(levels: dict[str, Level], parts: list[Part], sign: int = 1) -> None:
    for part in parts:
        level = levels[part.warehouse_id]
        if part.source == REGULAR:
            level.allocated += sign * part.qty
        else:
            level.backorder_allocated += sign * part.qty


def allocate_order(
    order_id: str,
    lines: list[LineRequest],
    levels: dict[str, dict[str, Level]],
    policies: dict[str, Policy],
) -> Allocation:
    """All lines or nothing: on any unfillable line the in-memory levels are left as they were."""
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


def allocation_movements(order_id: str, lines: list[LineRequest], allocation: Allocation) -> list[Movement]:
    sku_of = {line.line_id: line.sku_id for line in lines}
    movements = []
    for line_id, parts in allocation.lines.items():
        for part in parts:
            regular = part.source == REGULAR
            movements.append(Movement(
                sku_of[line_id], part.warehouse_id, "allocation" if regular else "backorder_allocation",
                allocated=part.qty if regular else 0, backorder_allocated=0 if regular else part.qty,
                order_id=order_id, line_id=line_id,
            ))
    return movements


# ------------------------------------------------------------------ restocks (R11, R19)


@dataclass(frozen=True)
class WaitingPart:
    """A backorder part still waiting for stock, with its place in the queue."""

    order_id: str
    line_id: str
    part_no: int
    qty: int
    priority: int
    placed_at: datetime
    seq: int

    @property
    def queue_key(self) -> tuple[int, datetime, int]:
        return (-self.priority, self.placed_at, self.seq)


@dataclass(frozen=True)
class Fill:
    part: WaitingPart
    qty: int

    @property
    def whole(self) -> bool:
        return self.qty == self.part.qty


def fill_waiting(units: int, waiting: list[WaitingPart]) -> list[Fill]:
    """Fill waiting parts in queue order (explicit seller priority first, then oldest order
    first) with ``units`` free units; the last one may be filled only partly."""
    fills: list[Fill] = []
    for part in sorted(waiting, key=lambda p: p.queue_key):
        if units <= 0:
            break
        take = min(units, part.qty)
        fills.append(Fill(part, take))
        units -= take
    return fills


def apply_fills(level: Level, fills: list[Fill]) -> list[Movement]:
    movements = []
    for fill in fills:
        level.backorder_allocated -= fill.qty
        level.backorder_limit -= fill.qty
        level.allocated += fill.qty
        movements.append(Movement(
            level.sku_id, level.warehouse_id, "backorder_fill", allocated=fill.qty,
            backorder_limit=-fill.qty, backorder_allocated=-fill.qty,
            order_id=fill.part.order_id, line_id=fill.part.line_id,
        ))
    return movements


def receive(level: Level, qty: int) -> Movement:
    level.on_hand += qty
    return Movement(level.sku_id, level.warehouse_id, "receipt", on_hand=qty)


def count(level: Level, on_hand: int) -> Movement:
    """A stock count sets on-hand; it may not go below what is already allocated."""
    delta = on_hand - level.on_hand
    level.on_hand = on_hand
    return Movement(level.sku_id, level.warehouse_id, "count", on_hand=delta)


def set_backorder_available(level: Level, available: int) -> Movement:
    """Catalog set the backorder quantity still available in this warehouse (R06)."""
    new_limit = level.backorder_allocated + available
    delta = new_limit - level.backorder_limit
    level.backorder_limit = new_limit
    return Movement(level.sku_id, level.warehouse_id, "backorder_limit", backorder_limit=delta)


# ------------------------------------------------------------------ release and shipment (R16, R17)


@dataclass(frozen=True)
class HeldPart:
    """An allocation part still held: ``state`` is allocated (regular), waiting or filled (backorder)."""

    order_id: str
    line_id: str
    part_no: int
    sku_id: str
    warehouse_id: str
    source: str
    qty: int
    state: str


def release(level: Level, part: HeldPart) -> Movement:
    """Give a cancelled part back to the ledger it came from (R17)."""
    if part.state == "waiting":
        level.backorder_allocated -= part.qty
        return Movement(level.sku_id, level.warehouse_id, "release", backorder_allocated=-part.qty,
                        order_id=part.order_id, line_id=part.line_id)
    level.allocated -= part.qty
    return Movement(level.sku_id, level.warehouse_id, "release", allocated=-part.qty,
                    order_id=part.order_id, line_id=part.line_id)


def ship(level: Level, part: HeldPart) -> Movement:
    level.on_hand -= part.qty
    level.allocated -= part.qty
    return Movement(level.sku_id, level.warehouse_id, "shipment", on_hand=-part.qty, allocated=-part.qty,
                    order_id=part.order_id, line_id=part.line_id)


def low_stock_transition(policy: Policy, atp: int) -> tuple[bool, bool]:
    """(emit an alert now, alerted state after). An alert fires once when ATP falls below the
    threshold and re-arms only after ATP is back at or above it (R10)."""
    if policy.low_stock_threshold is None:
        return False, False
    below = atp < policy.low_stock_threshold
    if below and not policy.low_stock_alerted:
        return True, True
    return False, below and policy.low_stock_alerted


def with_alerted(policy: Policy, alerted: bool) -> Policy:
    return replace(policy, low_stock_alerted=alerted)
