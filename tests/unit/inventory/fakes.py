"""In-memory fakes of the inventory ports (``services.inventory.ports``: ``InventoryStore`` and ``InventoryUow``).

The store keeps levels, policies, allocation parts and ledger rows as the PostgreSQL repository does, with
the same accounting (a waiting part holds backorder units in its own warehouse, a held one regular units in
the warehouse it ships from), so a test can check the ledger and the parts against the levels afterwards,
as ``GET /audit/ledger`` does.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from services.inventory import domain
from services.inventory.domain import HeldPart, Level, Movement, PartState, Policy, WaitingPart
from services.inventory.projection import OpenInbound, QueuedPart, SupplyAndQueue
from services.inventory.promise import SellerTerms
from services.inventory.stock import Stock, Why
from shared.cause import Cause
from shared.contract.envelope import Payload, Principal
from shared.contract.topics import Topic
from shared.dates import DatingPolicy
from shared.domain import Rejection


@dataclass
class StoredPart:
    order_id: str
    line_id: str
    part_no: int
    sku_id: str
    warehouse_id: str
    source: str
    qty: int
    state: str
    placed_at: datetime
    seq: int
    priority: int = 0
    ship_from: str | None = None
    projected_on: date | None = None
    projected_inbound: str | None = None

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.order_id, self.line_id, self.part_no)

    def held(self) -> HeldPart:
        return HeldPart(self.order_id, self.line_id, self.part_no, self.sku_id, self.warehouse_id, self.source,
                        self.qty, self.state, self.ship_from)

    def waiting(self) -> WaitingPart:
        return WaitingPart(self.order_id, self.line_id, self.part_no, self.qty, self.priority, self.placed_at,
                           self.seq, self.warehouse_id)


class FakeInventory:
    def __init__(self) -> None:
        self.levels: dict[tuple[str, str], Level] = {}
        self.policies: dict[str, Policy] = {}
        self.parts: dict[tuple[str, str, int], StoredPart] = {}
        self.ledger: list[tuple[Movement, Why]] = []
        self.receipts: dict[str, tuple[str, str, int]] = {}
        self.inbounds: dict[str, dict[str, Any]] = {}
        self.decisions: dict[str, tuple[bool, datetime]] = {}
        self.sellers: dict[str, SellerTerms] = {}
        self._seq = 0

    # ------------------------------------------------------------------ seeding (tests)

    def seed_level(self, sku_id: str, warehouse_id: str, **values: int) -> None:
        """A level as the ledger would have left it: one ``count`` / ``backorder_limit`` row per figure."""
        level = Level(sku_id, warehouse_id, **values)
        self.levels[(sku_id, warehouse_id)] = level
        self.ledger.append((Movement(sku_id, warehouse_id, domain.COUNT, on_hand=level.on_hand,
                                     allocated=level.allocated, backorder_limit=level.backorder_limit,
                                     backorder_allocated=level.backorder_allocated), Why("seed", "seed", None)))

    def seed_waiting(self, order_id: str, sku_id: str, warehouse_id: str, qty: int, placed_at: datetime,
                     priority: int = 0) -> None:
        """A waiting backorder part; its units must already be in the level's ``backorder_allocated``."""
        self._seq += 1
        part = StoredPart(order_id, "l1", 1, sku_id, warehouse_id, domain.BACKORDER, qty, domain.WAITING, placed_at,
                          self._seq, priority)
        self.parts[part.key] = part

    # ------------------------------------------------------------------ audit (tests)

    def ledger_mismatches(self) -> list[tuple[str, str]]:
        sums: dict[tuple[str, str], list[int]] = {}
        for m, _ in self.ledger:
            row = sums.setdefault((m.sku_id, m.warehouse_id), [0, 0, 0, 0])
            for i, delta in enumerate((m.on_hand, m.allocated, m.backorder_limit, m.backorder_allocated)):
                row[i] += delta
        return sorted(key for key, lv in self.levels.items()
                      if sums.get(key, [0, 0, 0, 0]) != [lv.on_hand, lv.allocated, lv.backorder_limit,
                                                         lv.backorder_allocated])

    def parts_mismatches(self) -> list[tuple[str, str]]:
        held: dict[tuple[str, str], list[int]] = {}
        for p in self.parts.values():
            if p.state in domain.HELD_STATES:
                row = held.setdefault((p.sku_id, p.held().held_in), [0, 0])
                row[p.state == domain.WAITING] += p.qty
        return sorted(key for key, lv in self.levels.items()
                      if held.get(key, [0, 0]) != [lv.allocated, lv.backorder_allocated])

    # ------------------------------------------------------------------ InventoryStore

    async def lock(self, sku_ids: Iterable[str], *, ensure_skus: bool = False,
                   ensure_levels: Iterable[tuple[str, str]] = ()) -> Stock:
        wanted = sorted(set(ensure_levels))
        skus = set(sku_ids) | {sku for sku, _ in wanted}
        for sku_id in skus if ensure_skus else {sku for sku, _ in wanted}:
            self.policies.setdefault(sku_id, Policy(sku_id))
        for key in wanted:
            self.levels.setdefault(key, Level(*key))
        policies = {sku: self.policies[sku] for sku in skus if sku in self.policies}
        return Stock(policies, [replace(lv) for (sku, _), lv in sorted(self.levels.items()) if sku in skus])

    async def lock_and_decided(self, sku_ids: Iterable[str], order_ids: Sequence[str]) -> tuple[Stock, set[str]]:
        return await self.lock(sku_ids), await self.decided(order_ids)

    async def projection_idle(self, sku_ids: Sequence[str]) -> None:
        for sku_id in sku_ids:
            self._may_project(sku_id, False)

    def _may_project(self, sku_id: str, may: bool) -> None:
        if sku_id in self.policies:
            self.policies[sku_id] = replace(self.policies[sku_id], may_project=may)

    async def save(self, stock: Stock, entries: Sequence[tuple[Movement, Why]],
                   decisions: Sequence[tuple[str, bool, datetime]] = (),
                   parts: Sequence[dict[str, Any]] = ()) -> list[Level]:
        await self.record_decisions(decisions)
        await self.insert_parts(parts)
        await self.record(entries)
        return await self.save_levels(stock)

    async def save_levels(self, stock: Stock) -> list[Level]:
        changed = stock.changed()  # checks the invariants, as the CHECK constraints do
        for level in changed:
            self.levels[(level.sku_id, level.warehouse_id)] = replace(level)
        return changed

    async def set_owner(self, sku_id: str, seller_id: str) -> None:
        if sku_id in self.policies:  # an UPDATE: a SKU never locked has no row
            self.policies[sku_id] = replace(self.policies[sku_id], seller_id=seller_id)

    async def set_backorder_enabled(self, sku_id: str, seller_id: str | None, enabled: bool) -> None:
        policy = self.policies[sku_id]
        self.policies[sku_id] = replace(policy, backorder_enabled=enabled, seller_id=seller_id or policy.seller_id)

    async def set_handling_days(self, sku_id: str, handling_days: int) -> None:
        self.policies[sku_id] = replace(self.policies[sku_id], handling_days=handling_days)

    async def save_seller(self, seller_id: str, region: str, timezone: str) -> None:
        self.sellers[seller_id] = SellerTerms(region, timezone)

    async def seller_terms(self, sku_id: str) -> SellerTerms:
        policy = self.policies.get(sku_id)
        return self.sellers.get(policy.seller_id or "", SellerTerms()) if policy else SellerTerms()

    async def set_stock_policy(self, sku_id: str, safety_stock: int, threshold: int | None) -> None:
        self.policies[sku_id] = replace(self.policies[sku_id], safety_stock=safety_stock,
                                        low_stock_threshold=threshold, low_stock_alerted=False)

    async def set_transfer_policy(self, sku_id: str, allowed: bool, warehouses: Sequence[str] | None) -> None:
        self.policies[sku_id] = replace(self.policies[sku_id], transfers_allowed=allowed,
                                        transfer_warehouses=tuple(warehouses) if warehouses is not None else None)

    async def set_low_stock_alerted(self, sku_id: str, alerted: bool) -> None:
        self.policies[sku_id] = replace(self.policies[sku_id], low_stock_alerted=alerted)

    async def record(self, entries: Sequence[tuple[Movement, Why]]) -> None:
        self.ledger += entries

    async def decided(self, order_ids: Sequence[str]) -> set[str]:
        return {order_id for order_id in order_ids if order_id in self.decisions}

    async def record_decisions(self, decisions: Sequence[tuple[str, bool, datetime]]) -> None:
        for order_id, accepted, placed_at in decisions:
            assert order_id not in self.decisions, "order_decisions has order_id as its key"
            self.decisions[order_id] = (accepted, placed_at)

    async def insert_parts(self, parts: Sequence[dict[str, Any]]) -> None:
        for row in parts:
            self._seq += 1
            part = StoredPart(**row, seq=self._seq)  # type: ignore[arg-type]
            self.parts[part.key] = part

    def _queue(self, sku_id: str, warehouse_ids: Iterable[str]) -> list[StoredPart]:
        where = set(warehouse_ids)
        return sorted((p for p in self.parts.values()
                       if p.sku_id == sku_id and p.warehouse_id in where and p.state == domain.WAITING),
                      key=lambda p: (-p.priority, p.placed_at, p.seq))

    async def waiting(self, sku_id: str, warehouse_id: str, units: int) -> list[WaitingPart]:
        """As the SQL: one warehouse's queue does not name the warehouse."""
        return [replace(p.waiting(), warehouse_id=None) for p in self._queue(sku_id, [warehouse_id])[:units]]

    async def waiting_pooled(self, sku_id: str, warehouse_ids: Sequence[str], units: int) -> list[WaitingPart]:
        return [p.waiting() for p in self._queue(sku_id, warehouse_ids)[:units]]

    async def fill_from(self, part: WaitingPart, qty: int, ship_from: str) -> None:
        self._fill(part, qty, ship_from)

    def _fill(self, part: WaitingPart, qty: int, ship_from: str | None) -> None:
        stored = self.parts[(part.order_id, part.line_id, part.part_no)]
        assert stored.state == domain.WAITING and 0 < qty <= stored.qty
        if qty == stored.qty:
            stored.state, stored.ship_from = domain.FILLED, ship_from
            return
        self._split(stored, qty, domain.FILLED, ship_from)

    def _split(self, stored: StoredPart, qty: int, state: PartState, ship_from: str | None) -> None:
        """``qty`` units of a part become a new part of their own, numbered after the line's last one."""
        stored.qty -= qty
        number = max(p.part_no for p in self.parts.values()
                     if (p.order_id, p.line_id) == (stored.order_id, stored.line_id)) + 1
        self._seq += 1
        split = replace(stored, part_no=number, qty=qty, state=state, ship_from=ship_from, seq=self._seq,
                        priority=0, projected_on=None, projected_inbound=None)
        self.parts[split.key] = split

    async def held(self, order_id: str, line_ids: Sequence[str], *, lock: bool = False) -> list[HeldPart]:
        return [p.held() for p in sorted(self.parts.values(), key=lambda p: (p.sku_id, p.warehouse_id, p.key))
                if p.order_id == order_id and p.line_id in line_ids and p.state in domain.HELD_STATES]

    async def set_part_state(self, part: HeldPart | WaitingPart, state: PartState) -> None:
        self.parts[(part.order_id, part.line_id, part.part_no)].state = state

    async def split_part(self, part: WaitingPart, filled_qty: int) -> None:
        self._fill(part, filled_qty, None)

    async def ship_some(self, part: HeldPart, qty: int) -> None:
        stored = self.parts[(part.order_id, part.line_id, part.part_no)]
        if stored.state in (domain.ALLOCATED, domain.FILLED) and stored.qty > qty:
            self._split(stored, qty, domain.SHIPPED, stored.ship_from)

    async def set_priority(self, order_id: str, sku_id: str, priority: int) -> int:
        changed = [p for p in self.parts.values()
                   if (p.order_id, p.sku_id, p.state) == (order_id, sku_id, domain.WAITING)]
        for p in changed:
            p.priority = priority
        return len(changed)

    async def new_receipt(self, receipt_id: str, sku_id: str, warehouse_id: str, qty: int) -> bool:
        booked = self.receipts.get(receipt_id)
        if booked is not None and booked != (sku_id, warehouse_id, qty):
            raise Rejection("receipt_id_reused", f"receipt {receipt_id} was booked for other stock")
        if booked is not None:
            return False
        self.receipts[receipt_id] = (sku_id, warehouse_id, qty)
        return True

    async def inbound(self, inbound_id: str) -> dict[str, Any] | None:
        found = self.inbounds.get(inbound_id)
        return {k: v for k, v in found.items() if k != "seq"} if found else None

    async def insert_inbound(self, inbound_id: str, sku_id: str, warehouse_id: str, qty: int,
                             expected_on: date) -> None:
        self.inbounds[inbound_id] = {"inbound_id": inbound_id, "sku_id": sku_id, "warehouse_id": warehouse_id,
                                     "qty": qty, "received": 0, "expected_on": expected_on, "state": "open",
                                     "seq": len(self.inbounds)}
        self._may_project(sku_id, True)

    async def update_inbound(self, inbound: dict[str, Any]) -> None:
        self.inbounds[inbound["inbound_id"]].update(inbound)
        self._may_project(self.inbounds[inbound["inbound_id"]]["sku_id"], True)

    async def warehouse_known(self, warehouse_id: str) -> bool:
        return any(wh == warehouse_id for _, wh in self.levels)

    async def open_inbounds(self, sku_id: str) -> list[OpenInbound]:
        rows = sorted((i for i in self.inbounds.values() if i["sku_id"] == sku_id and i["state"] == "open"),
                      key=lambda i: (i["expected_on"], i["seq"]))
        return [OpenInbound(i["inbound_id"], i["warehouse_id"], i["qty"] - i["received"], i["expected_on"])
                for i in rows]

    async def waiting_queue(self, sku_id: str) -> list[QueuedPart]:
        return [QueuedPart(p.order_id, p.line_id, p.part_no, p.warehouse_id, p.qty, p.projected_on,
                           p.projected_inbound)
                for p in self._queue(sku_id, {wh for _, wh in self.levels})]

    async def projected_parts(self, sku_id: str) -> list[QueuedPart]:
        return [q for q in await self.waiting_queue(sku_id) if q.projected_on or q.inbound_id]

    async def reprojection_inputs(self, sku_ids: Sequence[str]) -> SupplyAndQueue:
        found: SupplyAndQueue = {}
        for sku_id in sku_ids:
            inbounds = await self.open_inbounds(sku_id)
            queue = await (self.waiting_queue(sku_id) if inbounds else self.projected_parts(sku_id))
            if inbounds or queue:
                found[sku_id] = (inbounds, queue)
        return found

    async def set_projections(self, parts: Sequence[QueuedPart]) -> None:
        for q in parts:
            stored = self.parts[q.key]
            stored.projected_on, stored.projected_inbound = q.projected_on, q.inbound_id


@dataclass
class FixedClock:
    at: datetime

    def now(self) -> datetime:
        return self.at


@dataclass
class FakeUow:
    clock: FixedClock
    inventory: FakeInventory = field(default_factory=FakeInventory)
    dating: DatingPolicy = field(default_factory=DatingPolicy)
    cause: Cause | None = None
    emitted: list[Payload] = field(default_factory=list)

    def acting_as(self, kind: str, principal_id: str, message_type: str = "") -> FakeUow:
        self.cause = Cause(uuid.uuid4(), uuid.uuid4(), Principal(kind=kind, id=principal_id), message_type,
                           self.clock.now())
        return self

    @contextmanager
    def caused_by(self, cause: Cause | None) -> Iterator[None]:
        previous, self.cause = self.cause, cause
        try:
            yield
        finally:
            self.cause = previous

    def emit(self, topic: Topic | str, payload: Payload, *, key: str | None) -> Any:
        self.emitted.append(payload)

    def of_type(self, message_type: str) -> list[Any]:
        return [p for p in self.emitted if p.message_type == message_type]
