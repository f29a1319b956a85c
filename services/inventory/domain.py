"""Inventory rules R07-R12, R17, R19. Pure: levels in, decisions and movements out; no I/O.

Levels of one SKU in one warehouse::

    on_hand              units physically in stock (the regular ledger)
    allocated            of those, units reserved for orders (regular parts and filled backorder parts)
    backorder_limit      units the seller allows to sell on backorder here (set by catalog)
    backorder_allocated  of those, units promised to orders and still waiting for stock

Invariants, also database CHECK constraints so that a bug fails loudly instead of
overselling (R08)::

    0 <= allocated <= on_hand            0 <= backorder_allocated <= backorder_limit

A receipt that fills a waiting part moves it from the backorder ledger to the regular
one: ``backorder_allocated`` and ``backorder_limit`` go down, ``on_hand`` (by the
receipt) and ``allocated`` go up, so a restock never creates backorder capacity.

Allocating an order (R07-R09) is in ``allocation.py``.

Safety stock is per SKU, across its warehouses: available-to-promise (ATP) is the SKU's
free regular stock less its safety stock, and no warehouse may promise more than that.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, Literal

from shared.contract.common import StockSource
from shared.domain import Rejection

#: where a part's units come from, what moved in a ledger row (R12) and a part's state: the CHECK lists of
#: ``allocation_parts`` and ``stock_ledger``, held in step by a test
Source = StockSource
LedgerKind = Literal["receipt", "count", "allocation", "backorder_allocation", "backorder_fill", "backorder_limit",
                     "release", "backorder_release", "shipment", "backorder_shipment", "transfer_fill"]
PartState = Literal["allocated", "waiting", "filled", "released", "shipped"]

REGULAR: Final = "regular"
BACKORDER: Final = "backorder"
DEFAULT_WAREHOUSE_PRIORITY = 100

RECEIPT: Final = "receipt"
COUNT: Final = "count"
ALLOCATION: Final = "allocation"
BACKORDER_ALLOCATION: Final = "backorder_allocation"
BACKORDER_FILL: Final = "backorder_fill"
BACKORDER_LIMIT: Final = "backorder_limit"
RELEASE: Final = "release"
BACKORDER_RELEASE: Final = "backorder_release"
SHIPMENT: Final = "shipment"
BACKORDER_SHIPMENT: Final = "backorder_shipment"
#: R31: a part waiting in one warehouse filled from another's units (a row in each warehouse)
TRANSFER_FILL: Final = "transfer_fill"

ALLOCATED: Final = "allocated"
WAITING: Final = "waiting"
FILLED: Final = "filled"
RELEASED: Final = "released"
SHIPPED: Final = "shipped"
HELD_STATES: tuple[PartState, ...] = (ALLOCATED, WAITING, FILLED)


@dataclass
class Level:
    sku_id: str
    warehouse_id: str
    on_hand: int = 0
    allocated: int = 0
    backorder_limit: int = 0
    backorder_allocated: int = 0
    priority: int = DEFAULT_WAREHOUSE_PRIORITY

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
    """What inventory knows of a SKU: its owner, whether it is on backorder, and the seller's levels (R10)."""

    sku_id: str
    seller_id: str | None = None
    backorder_enabled: bool = False
    safety_stock: int = 0
    low_stock_threshold: int | None = None
    low_stock_alerted: bool = False
    #: backorder handling time in business days (``BackorderActivated``), to date promises (R24); None before
    handling_days: int | None = None
    #: R31: the seller allows transfers: free units of a warehouse in the pool fill the SKU's waiting parts
    #: in any warehouse of the pool, in one queue
    transfers_allowed: bool = False
    #: R31: the pool; None means every warehouse of the SKU
    transfer_warehouses: tuple[str, ...] | None = None
    #: R28: whether re-projecting its queue can find anything (migrations/0006_one_read_lock.sql)
    may_project: bool = True

    def transfer_pool(self, warehouse_ids: Iterable[str]) -> frozenset[str]:
        """The warehouses, of ``warehouse_ids`` (the SKU's), whose stock serves one SKU-wide queue (R31);
        empty when transfers are not allowed."""
        if not self.transfers_allowed:
            return frozenset()
        pool = set(warehouse_ids)
        return frozenset(pool if self.transfer_warehouses is None else pool & set(self.transfer_warehouses))


@dataclass(frozen=True)
class Part:
    warehouse_id: str
    source: Source
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
    kind: LedgerKind
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


# ------------------------------------------------------------------ seller-facing levels (R10)


def available_to_promise(levels: Iterable[Level], policy: Policy) -> int:
    """Regular stock of the SKU free to sell, less its safety stock (R10). ``levels``: all its warehouses."""
    return max(0, sum(level.free_regular for level in levels) - policy.safety_stock)


@dataclass(frozen=True)
class SellerView:
    """What a seller sees of one warehouse and of the whole SKU (R10).

    In stock = free regular units, backorder = backorder units still sellable (none while
    the SKU is not on backorder), total = in stock + backorder. ATP excludes safety stock;
    a warehouse's ATP is what it can promise now, at most the SKU's ATP.
    """

    in_stock: int
    backorder: int
    available_to_promise: int
    sku_in_stock: int
    sku_backorder: int
    sku_available_to_promise: int

    @property
    def total(self) -> int:
        return self.in_stock + self.backorder

    @property
    def sku_total(self) -> int:
        return self.sku_in_stock + self.sku_backorder


def seller_view(level: Level, sku_levels: Sequence[Level], policy: Policy) -> SellerView:
    def backorder(lv: Level) -> int:
        return lv.free_backorder if policy.backorder_enabled else 0

    sku_atp = available_to_promise(sku_levels, policy)
    return SellerView(
        in_stock=level.free_regular,
        backorder=backorder(level),
        available_to_promise=min(level.free_regular, sku_atp),
        sku_in_stock=sum(lv.free_regular for lv in sku_levels),
        sku_backorder=sum(backorder(lv) for lv in sku_levels),
        sku_available_to_promise=sku_atp,
    )


def total_available(levels: Sequence[Level], policy: Policy) -> int:
    """R32: what the seller's low-stock threshold is compared with: the SKU's total available stock,
    in stock (its ATP, so less safety stock) plus backorder (units still sellable while on backorder)."""
    backorder = sum(lv.free_backorder for lv in levels) if policy.backorder_enabled else 0
    return available_to_promise(levels, policy) + backorder


def backorder_ran_out(before: Sequence[Level], policy_before: Policy, after: Sequence[Level],
                      policy_after: Policy) -> bool:
    """R32: the SKU's backorder stock ran out: it had sellable backorder units before the transaction and
    has none after, while still on backorder (a deactivation is the seller's doing, not a run-out). Once per
    crossing: it can run out again only after backorder stock was added."""
    if not (policy_before.backorder_enabled and policy_after.backorder_enabled):
        return False
    return sum(lv.free_backorder for lv in before) > 0 and sum(lv.free_backorder for lv in after) <= 0


def low_stock_transition(policy: Policy, atp: int) -> tuple[bool, bool]:
    """(emit an alert now, alerted state after). An alert fires once when the SKU's stock (R32: its total
    available, ``total_available``) falls below the threshold and re-arms only once it is back at or above
    it (R10)."""
    if policy.low_stock_threshold is None:
        return False, False
    below = atp < policy.low_stock_threshold
    return below and not policy.low_stock_alerted, below


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
    #: where the part waits (its backorder units are held there); None: the warehouse being filled
    warehouse_id: str | None = None

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


def fill_waiting(units: int, waiting: Iterable[WaitingPart]) -> list[Fill]:
    """Fill waiting parts in queue order (an explicit seller priority first, then the oldest
    placement, then arrival) with ``units`` units; the last one may be filled only partly (R11, R19)."""
    fills: list[Fill] = []
    for part in sorted(waiting, key=lambda p: p.queue_key):
        if units <= 0:
            break
        take = min(units, part.qty)
        fills.append(Fill(part, take))
        units -= take
    return fills


def fill_budget(level: Level, sku_levels: Sequence[Level], policy: Policy, received: int = 0,
                waiting: int | None = None) -> int:
    """How many free units of ``level`` go to its waiting backorders now.

    The ``received`` units of a receipt always do (R11: a restock fills waiting backorders
    first). Other free units (a count, a cancellation, a lower safety stock) only as far as
    new orders could take them: the SKU's ATP, so waiting orders and new ones see the same
    safety stock. ``waiting``: the units waiting that these can fill, by default the warehouse's own
    (R31: its pool's, where the seller allows transfers)."""
    if (level.backorder_allocated if waiting is None else waiting) <= 0:
        return 0
    return max(0, min(level.free_regular, max(received, available_to_promise(sku_levels, policy))))


def apply_fills(level: Level, fills: Iterable[Fill], waiting_in: Mapping[str, Level] | None = None) -> list[Movement]:
    """``level``'s free units fill these parts. A part waiting in another warehouse (R31, ``waiting_in``:
    the SKU's levels by warehouse) is a transfer: ``level`` reserves the units for it, and the other
    warehouse's backorder promise is used up, as by a fill there; one ledger row in each."""
    movements = []
    for fill in fills:
        origin = fill.part.warehouse_id
        if origin is not None and origin != level.warehouse_id:
            movements += transfer_fill(level, (waiting_in or {})[origin], fill)
            continue
        level.backorder_allocated -= fill.qty
        level.backorder_limit -= fill.qty
        level.allocated += fill.qty
        movements.append(Movement(
            level.sku_id, level.warehouse_id, BACKORDER_FILL, allocated=fill.qty,
            backorder_limit=-fill.qty, backorder_allocated=-fill.qty,
            order_id=fill.part.order_id, line_id=fill.part.line_id,
        ))
    return movements


def transfer_fill(level: Level, waited_in: Level, fill: Fill) -> list[Movement]:
    """R31: ``fill.qty`` units of ``level`` go to a part waiting in ``waited_in``; it ships from ``level``."""
    part = fill.part
    level.allocated += fill.qty
    waited_in.backorder_allocated -= fill.qty
    waited_in.backorder_limit -= fill.qty
    return [Movement(level.sku_id, level.warehouse_id, TRANSFER_FILL, allocated=fill.qty,
                     order_id=part.order_id, line_id=part.line_id),
            Movement(waited_in.sku_id, waited_in.warehouse_id, TRANSFER_FILL, backorder_limit=-fill.qty,
                     backorder_allocated=-fill.qty, order_id=part.order_id, line_id=part.line_id)]


def receive(level: Level, qty: int) -> Movement:
    level.on_hand += qty
    return Movement(level.sku_id, level.warehouse_id, RECEIPT, on_hand=qty)


def count(level: Level, on_hand: int) -> Movement:
    """A stock count sets on-hand; it may not go below what is already allocated (R08)."""
    if on_hand < level.allocated:
        raise Rejection("count_below_allocated",
                        f"{level.allocated} units of {level.sku_id} in {level.warehouse_id} are allocated to "
                        f"orders; a count of {on_hand} is too low")
    delta = on_hand - level.on_hand
    level.on_hand = on_hand
    return Movement(level.sku_id, level.warehouse_id, COUNT, on_hand=delta)


def set_backorder_available(level: Level, available: int) -> Movement:
    """Catalog set the backorder quantity still sellable in this warehouse (R06): units already
    promised stay promised, ``available`` more may be sold."""
    new_limit = level.backorder_allocated + available
    delta = new_limit - level.backorder_limit
    level.backorder_limit = new_limit
    return Movement(level.sku_id, level.warehouse_id, BACKORDER_LIMIT, backorder_limit=delta)


# ------------------------------------------------------------------ release and shipment (R16, R17)


@dataclass(frozen=True)
class HeldPart:
    """An allocation part still held: ``state`` is allocated (regular), waiting or filled (backorder)."""

    order_id: str
    line_id: str
    part_no: int
    sku_id: str
    warehouse_id: str
    source: Source
    qty: int
    state: PartState
    #: R31: where a filled part ships from, when not its own warehouse
    ship_from: str | None = None

    @property
    def held_in(self) -> str:
        """The warehouse whose level holds the part: a waiting part its backorder units in its own, a
        regular or filled part its regular units in the one it ships from (R31)."""
        return self.warehouse_id if self.state == WAITING else (self.ship_from or self.warehouse_id)


def release(level: Level, part: HeldPart) -> Movement:
    """Give a cancelled part back to the ledger it came from (R17): a waiting backorder part
    frees backorder capacity; a regular or filled part frees regular stock."""
    if part.state == WAITING:
        level.backorder_allocated -= part.qty
        return Movement(level.sku_id, level.warehouse_id, BACKORDER_RELEASE, backorder_allocated=-part.qty,
                        order_id=part.order_id, line_id=part.line_id)
    level.allocated -= part.qty
    return Movement(level.sku_id, level.warehouse_id, RELEASE, allocated=-part.qty,
                    order_id=part.order_id, line_id=part.line_id)


def ship(level: Level, part: HeldPart) -> Movement:
    """A shipped part leaves the warehouse. A part still waiting for stock when the seller
    ships it was shipped from stock the ledger never saw: its backorder promise is used up
    (it must not take units from a later receipt)."""
    if part.state == WAITING:
        level.backorder_allocated -= part.qty
        level.backorder_limit -= part.qty
        return Movement(level.sku_id, level.warehouse_id, BACKORDER_SHIPMENT, backorder_limit=-part.qty,
                        backorder_allocated=-part.qty, order_id=part.order_id, line_id=part.line_id)
    level.on_hand -= part.qty
    level.allocated -= part.qty
    return Movement(level.sku_id, level.warehouse_id, SHIPMENT, on_hand=-part.qty, allocated=-part.qty,
                    order_id=part.order_id, line_id=part.line_id)
