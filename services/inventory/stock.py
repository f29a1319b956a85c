"""The inventory aggregate: the stock of the SKUs one transaction locked, across their warehouses.

A handler loads it (``InventoryStore.lock``), calls its methods, and saves it: ``save_levels`` writes the
levels that changed since they were read, ``record`` the ledger movements the methods return (R12). The
methods check, change levels and policies, and record domain ``events`` (``events.py``), which the handler
turns into wire messages at one edge (``wire.py``). Filling waiting parts needs the restock queue, which
only the store holds: ``fill_request`` says which queue and how far to read it, ``fill`` takes what was read.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence, Set
from dataclasses import dataclass, replace
from datetime import datetime

from services.inventory import domain
from services.inventory.allocation import allocate_order, allocation_movements
from services.inventory.domain import HeldPart, Level, LineRequest, Movement, PartState, Policy, Source, WaitingPart
from services.inventory.events import (
    BackorderRanOut,
    BackorderReleased,
    Event,
    LevelShown,
    LowStock,
    OrderAllocated,
    OrderRefused,
    TransferPolicyChanged,
)
from shared.domain import Actor, Rejection


@dataclass(frozen=True)
class Why:
    """Why ledger rows exist (R12): the command or event that caused them, and who acted."""

    cause_id: str
    cause_type: str
    actor: str | None


@dataclass(frozen=True)
class QueueRequest:
    """The head of a restock queue to read: ``budget`` units' worth, of one warehouse or of a pool (R31)."""

    sku_id: str
    warehouse_id: str
    pool: tuple[str, ...] | None
    budget: int


@dataclass(frozen=True)
class PartFill:
    """``qty`` units of ``level_of`` filled a waiting part: whole or split, here or a transfer (R31)."""

    part: WaitingPart
    qty: int
    level_of: str

    @property
    def transfer(self) -> bool:
        return (self.part.warehouse_id or self.level_of) != self.level_of

    @property
    def whole(self) -> bool:
        return self.qty == self.part.qty


@dataclass(frozen=True)
class NewPart:
    """An allocation part to store; its fields are the ``allocation_parts`` columns."""

    order_id: str
    line_id: str
    part_no: int
    sku_id: str
    warehouse_id: str
    source: Source
    qty: int
    state: PartState
    placed_at: datetime


@dataclass(frozen=True)
class OrderRequest:
    order_id: str
    placed_at: datetime
    lines: tuple[LineRequest, ...]


@dataclass(frozen=True)
class Decision:
    """An order allocated (its parts and ledger movements) or refused."""

    order_id: str
    accepted: bool
    placed_at: datetime
    parts: tuple[NewPart, ...] = ()
    movements: tuple[Movement, ...] = ()


def _as_tuple(lv: Level) -> tuple[str, str, int, int, int, int, int]:
    """``astuple(level)``, without its deep copy (this runs for every locked level)."""
    return (lv.sku_id, lv.warehouse_id, lv.on_hand, lv.allocated, lv.backorder_limit, lv.backorder_allocated,
            lv.priority)


def _shown(level: Level, view: domain.SellerView) -> tuple[int, ...]:
    """What a warehouse's own ``StockChanged`` figures are."""
    return (level.on_hand, level.allocated, level.backorder_limit, level.backorder_allocated,
            view.available_to_promise, view.total)


class Stock:
    """The locked SKUs: their policies and levels, what changed since they were read, and the events."""

    def __init__(self, policies: dict[str, Policy], levels: list[Level]) -> None:
        self.policies = policies
        self.by_sku: dict[str, dict[str, Level]] = {}
        for level in levels:
            self.by_sku.setdefault(level.sku_id, {})[level.warehouse_id] = level
        self._snapshot = {(lv.sku_id, lv.warehouse_id): _as_tuple(lv) for lv in levels}
        self._policies_read = dict(policies)
        self.events: list[Event] = []

    # ------------------------------------------------------------------ reading

    def policy(self, sku_id: str) -> Policy:
        return self.policies.get(sku_id) or Policy(sku_id)

    def level(self, sku_id: str, warehouse_id: str) -> Level:
        return self.by_sku[sku_id][warehouse_id]

    def sku_levels(self, sku_id: str) -> list[Level]:
        return list(self.by_sku.get(sku_id, {}).values())

    def changed(self) -> list[Level]:
        """Levels that differ from what was read, each checked against the invariants first."""
        out = []
        for sku_id in sorted(self.by_sku):
            for warehouse_id in sorted(self.by_sku[sku_id]):
                level = self.by_sku[sku_id][warehouse_id]
                if self._snapshot.get((sku_id, warehouse_id)) != _as_tuple(level):
                    level.check()
                    out.append(level)
        return out

    def as_read(self, sku_id: str) -> tuple[list[Level], Policy]:
        """The SKU's levels and policy as they were read, before this transaction changed them."""
        levels = [Level(*self._snapshot[(sku_id, wh)]) for wh in self.by_sku.get(sku_id, {})
                  if (sku_id, wh) in self._snapshot]
        return levels, self._policies_read.get(sku_id) or Policy(sku_id)

    def delta(self, level: Level) -> tuple[int, int, int, int]:
        """What changed in ``level`` since it was read: on_hand, allocated, backorder limit and allocated."""
        before = self._snapshot[(level.sku_id, level.warehouse_id)]
        return (level.on_hand - before[2], level.allocated - before[3], level.backorder_limit - before[4],
                level.backorder_allocated - before[5])

    def take_events(self) -> list[Event]:
        events, self.events = self.events, []
        return events

    # ------------------------------------------------------------------ who may act (R06a)

    def authorize(self, sku_id: str, actor: Actor | None, *, must_be_listed: bool = False) -> None:
        """A seller acts only on its own SKUs, services and operators on any (R06a). ``must_be_listed``: the
        SKU must be listed whoever acts (an inbound or a transfer policy is of a seller's SKU)."""
        owner = self.policy(sku_id).seller_id
        seller = actor is not None and actor.kind == "seller"
        if owner is None and (seller or must_be_listed):
            raise Rejection("unknown_sku", f"SKU {sku_id} is not listed")
        if seller and actor is not None and owner != actor.id:
            raise Rejection("not_owner", f"SKU {sku_id} belongs to another seller")

    # ------------------------------------------------------------------ counts, receipts, policies

    def count(self, sku_id: str, warehouse_id: str, on_hand: int) -> Movement:
        return domain.count(self.level(sku_id, warehouse_id), on_hand)

    def receive(self, sku_id: str, warehouse_id: str, qty: int) -> Movement:
        return domain.receive(self.level(sku_id, warehouse_id), qty)

    def set_stock_policy(self, sku_id: str, safety_stock: int, threshold: int | None) -> None:
        """R10: a new threshold re-arms the alert, checked at once."""
        self.policies[sku_id] = replace(self.policy(sku_id), safety_stock=safety_stock,
                                        low_stock_threshold=threshold, low_stock_alerted=False)

    def set_transfer_policy(self, sku_id: str, allowed: bool, warehouses: Sequence[str] | None,
                            known: Iterable[str]) -> tuple[str, ...] | None:
        """R31: a pool is named only while transfers are allowed, holds at least two warehouses (a transfer needs
        two), each once, each one inventory knows (``known``). Returns the pool as stored."""
        if warehouses is not None:
            if not allowed:
                raise Rejection("warehouses_without_transfers",
                                "a pool of warehouses is named only when transfers are allowed")
            if len(set(warehouses)) != len(warehouses):
                raise Rejection("duplicate_warehouse", "a warehouse is named twice in the transfer pool")
            if len(warehouses) < 2:
                raise Rejection("too_few_warehouses",
                                f"a transfer needs two warehouses, the pool names {len(warehouses)}")
            unknown = sorted(set(warehouses) - set(known))
            if unknown:
                raise Rejection("unknown_warehouse", f"inventory holds no stock level in {', '.join(unknown)}")
        pool = tuple(sorted(warehouses)) if warehouses is not None else None
        self.policies[sku_id] = replace(self.policy(sku_id), transfers_allowed=allowed, transfer_warehouses=pool)
        self.events.append(TransferPolicyChanged(sku_id, allowed, pool))
        return pool

    def activate_backorder(self, sku_id: str, seller_id: str, handling_days: int,
                           available: dict[str, int]) -> list[Movement]:
        """R06: per warehouse, ``available`` more units may be sold on backorder."""
        self.policies[sku_id] = replace(self.policy(sku_id), seller_id=seller_id, backorder_enabled=True,
                                        handling_days=handling_days)
        movements = []
        for level in sorted(self.sku_levels(sku_id), key=lambda lv: lv.warehouse_id):
            movement = domain.set_backorder_available(level, available.get(level.warehouse_id, 0))
            if movement.backorder_limit:
                movements.append(movement)
        return movements

    def stop_backorder(self, sku_id: str) -> bool:
        """R06: no new backorder allocation; False when the SKU was not on backorder (or is unknown here)."""
        if not self.policy(sku_id).backorder_enabled:
            return False
        self.policies[sku_id] = replace(self.policy(sku_id), backorder_enabled=False)
        return True

    # ------------------------------------------------------------------ filling waiting parts (R11, R19, R31)

    def fill_order(self, sku_id: str, first: str | None = None) -> list[str]:
        """The SKU's warehouses, ``first`` (the one whose stock moved) first. Safety stock is per SKU, so units
        arriving in one warehouse can make free units of another promisable: those fill its waiting orders
        before any new order."""
        return sorted(self.by_sku.get(sku_id, {}), key=lambda wh: (wh != first, wh))

    def fill_request(self, sku_id: str, warehouse_id: str, received: int = 0) -> QueueRequest | None:
        """How far to read the queue that ``warehouse_id``'s free units fill now, or None: nothing to fill.
        Where the seller allows transfers and the warehouse is in the SKU's pool (R31), the pool's one queue."""
        level, levels, policy = self.level(sku_id, warehouse_id), self.sku_levels(sku_id), self.policy(sku_id)
        pool = policy.transfer_pool(lv.warehouse_id for lv in levels)
        if warehouse_id in pool:
            waiting = sum(lv.backorder_allocated for lv in levels if lv.warehouse_id in pool)
            budget = domain.fill_budget(level, levels, policy, received, waiting=waiting)
            return QueueRequest(sku_id, warehouse_id, tuple(sorted(pool)), budget) if budget > 0 else None
        budget = domain.fill_budget(level, levels, policy, received)
        return QueueRequest(sku_id, warehouse_id, None, budget) if budget > 0 else None

    def fill(self, request: QueueRequest, queue: Sequence[WaitingPart],
             receipt_id: str | None = None) -> tuple[list[PartFill], list[Movement]]:
        """The request's units fill the queue's parts in queue order (R11, R19); each order filled is told so."""
        level = self.level(request.sku_id, request.warehouse_id)
        fills = domain.fill_waiting(request.budget, queue)
        done = [PartFill(fill.part, fill.qty, level.warehouse_id) for fill in fills]
        for fill in done:
            self.events.append(BackorderReleased(
                fill.part.order_id, fill.part.line_id, level.sku_id, fill.part.warehouse_id or level.warehouse_id,
                fill.qty, receipt_id, level.warehouse_id))
        return done, domain.apply_fills(level, fills, self.by_sku[level.sku_id])

    # ------------------------------------------------------------------ orders (R07-R09, R16, R17, R27)

    def allocate(self, orders: Sequence[OrderRequest], decided: Set[str]) -> list[Decision]:
        """Allocate orders in the order given (their placement), all lines or nothing each; an order decided
        before, or earlier in the batch, is not decided again."""
        seen = set(decided)
        decisions = []
        for order in orders:
            if order.order_id in seen:
                continue
            seen.add(order.order_id)
            decisions.append(self._allocate(order))
        return decisions

    def _allocate(self, order: OrderRequest) -> Decision:
        lines = list(order.lines)
        if len({line.line_id for line in lines}) != len(lines):
            self.events.append(OrderRefused(order.order_id, "invalid_order", ()))
            return Decision(order.order_id, False, order.placed_at)
        allocation = allocate_order(order.order_id, lines, self.by_sku, self.policies)
        if not allocation.accepted:
            self.events.append(OrderRefused(order.order_id, "out_of_stock", tuple(allocation.rejected_lines)))
            return Decision(order.order_id, False, order.placed_at)
        parts = tuple(
            NewPart(order.order_id, line.line_id, number, line.sku_id, part.warehouse_id, part.source, part.qty,
                    domain.ALLOCATED if part.source == domain.REGULAR else domain.WAITING, order.placed_at)
            for line in lines for number, part in enumerate(allocation.lines[line.line_id], start=1))
        self.events.append(OrderAllocated(order.order_id, tuple(
            (line.line_id, line.sku_id, tuple(allocation.lines[line.line_id])) for line in lines)))
        return Decision(order.order_id, True, order.placed_at, parts,
                        tuple(allocation_movements(order.order_id, lines, allocation)))

    def release(self, part: HeldPart) -> Movement:
        """A cancelled part goes back to the ledger it came from (R17)."""
        return domain.release(self.level(part.sku_id, part.held_in), part)

    def ship(self, parts: Sequence[HeldPart], units: dict[str, int]) -> list[tuple[HeldPart, int, Movement]]:
        """Shipped parts leave the warehouse (R16): ``(part, qty shipped, movement)``. Of a line in ``units``
        (R27) only that many units, from its parts in stock (regular, then filled), a part split when it ships
        in part; its units still waiting for stock stay held."""
        left = dict(units)
        shipped = []
        for part in parts:
            take = part.qty
            if part.line_id in left:
                if part.state == domain.WAITING or left[part.line_id] <= 0:
                    continue
                take = min(part.qty, left[part.line_id])
                left[part.line_id] -= take
            level = self.level(part.sku_id, part.held_in)
            shipped.append((part, take, domain.ship(level, replace(part, qty=take) if take < part.qty else part)))
        return shipped

    # ------------------------------------------------------------------ what sellers are told (R10, R32)

    def settle(self, changed: Iterable[Level], announce: Iterable[str] = ()) -> tuple[list[str], list[str]]:
        """Record what sellers see change: a ``LevelShown`` for every warehouse of a SKU in ``announce``, and, of
        a SKU whose levels changed, for every warehouse whose own figures changed (its levels, or what it can
        promise or show now: safety stock is per SKU); then each SKU's low stock and backorder run-out.
        Returns the SKUs settled and those whose low-stock alert state flipped (to store)."""
        announced = set(announce)
        skus = sorted({lv.sku_id for lv in changed} | announced)
        for sku_id in skus:
            levels = sorted(self.sku_levels(sku_id), key=lambda lv: lv.warehouse_id)
            policy = self.policy(sku_id)
            shown = {} if sku_id in announced else self._shown_as_read(sku_id)
            for level in levels:
                view = domain.seller_view(level, levels, policy)
                if shown.get(level.warehouse_id) != _shown(level, view):
                    self.events.append(LevelShown(level, view))
        return skus, [sku_id for sku_id in skus if self._check_low_stock(sku_id)]

    def _shown_as_read(self, sku_id: str) -> dict[str, tuple[int, ...]]:
        levels, policy = self.as_read(sku_id)
        return {lv.warehouse_id: _shown(lv, domain.seller_view(lv, levels, policy)) for lv in levels}

    def _check_low_stock(self, sku_id: str) -> bool:
        """One ``LowStock`` per downward crossing of the threshold by the SKU's total available stock, in stock
        plus backorder (R10, R32); one ``BackorderRanOut`` when its backorder stock runs out (R32). True when
        the alert state flipped."""
        policy, levels = self.policy(sku_id), self.sku_levels(sku_id)
        atp = domain.available_to_promise(levels, policy)
        total = domain.total_available(levels, policy)
        alert, alerted = domain.low_stock_transition(policy, total)
        flipped = alerted != policy.low_stock_alerted
        if flipped:
            self.policies[sku_id] = replace(policy, low_stock_alerted=alerted)
        if alert and policy.low_stock_threshold is not None:
            self.events.append(LowStock(sku_id, policy.seller_id, atp, total, policy.low_stock_threshold))
        before, policy_before = self.as_read(sku_id)
        if domain.backorder_ran_out(before, policy_before, levels, self.policy(sku_id)):
            self.events.append(BackorderRanOut(sku_id, policy.seller_id, atp,
                                               sum(lv.backorder_allocated for lv in levels)))
        return flipped
