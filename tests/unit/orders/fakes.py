"""In-memory fakes of the orders ports (``services.orders.ports``: the three stores and ``OrdersUoW``)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from services.orders.domain import Order, SkuTerms, snapshot
from services.orders.settings import DEFAULT_TRANSIT_DAYS
from services.orders.views import SKU_WIDE, LostLine, SkuRecord, StockStatus
from shared.cause import Cause
from shared.contract.envelope import Payload, Principal
from shared.contract.topics import Topic
from shared.dates import DatingPolicy


class FakeOrders:
    def __init__(self) -> None:
        self.orders: dict[str, Order] = {}
        self.correlations: dict[str, uuid.UUID | None] = {}
        self.releases: set[tuple[str, str, str, str]] = set()
        self.lost: dict[tuple[str, str], LostLine] = {}
        self.slips: dict[tuple[str, str], tuple[int, date]] = {}

    async def get(self, order_id: str, *, lock: bool = False) -> Order | None:
        order = self.orders.get(order_id)
        return snapshot(order) if order else None

    async def get_many(self, order_ids: Sequence[str], *, lock: bool = False) -> dict[str, Order]:
        """By id, in key order (the order the SQL reads and locks them in)."""
        return {order_id: snapshot(self.orders[order_id]) for order_id in sorted(set(order_ids))
                if order_id in self.orders}

    async def add(self, order: Order, correlation_id: uuid.UUID | None) -> None:
        assert order.order_id not in self.orders
        self.orders[order.order_id] = snapshot(order)
        self.correlations[order.order_id] = correlation_id

    async def add_many(self, orders: Sequence[tuple[Order, uuid.UUID | None]]) -> None:
        for order, correlation_id in orders:
            await self.add(order, correlation_id)

    async def save(self, order: Order) -> None:
        assert order.order_id in self.orders
        self.orders[order.order_id] = snapshot(order)

    async def save_many(self, orders: Sequence[Order]) -> None:
        for order in orders:
            await self.save(order)

    async def correlation_of(self, order_id: str) -> uuid.UUID | None:
        return self.correlations.get(order_id)

    async def orders_waiting_for(self, sku_id: str) -> list[str]:
        return sorted(o.order_id for o in self.orders.values()
                      if any(ln.sku_id == sku_id and ln.state == "awaiting_stock" for ln in o.lines))

    async def record_release(self, order_id: str, line_id: str, warehouse_id: str, receipt_id: str, qty: int,
                             at: datetime) -> bool:
        key = (order_id, line_id, warehouse_id, receipt_id)
        if key in self.releases:
            return False
        self.releases.add(key)
        return True

    async def record_slip(self, order_id: str, line_id: str, promised: date) -> tuple[int, date]:
        """As the SQL does: the first slip keeps the ship-by first promised."""
        count, first = self.slips.get((order_id, line_id), (0, promised))
        self.slips[(order_id, line_id)] = (count + 1, first)
        return count + 1, first

    async def record_lost_demand(self, lines: Sequence[LostLine]) -> None:
        for line in lines:
            self.lost.setdefault((line.order_id, line.line_id), line)


class FakeCatalog:
    def __init__(self) -> None:
        self.sellers: dict[str, tuple[str, str]] = {}
        self.skus: dict[str, SkuRecord] = {}
        self.auto_cancels: dict[str, tuple[int | None, bool]] = {}

    async def save_seller(self, seller_id: str, region: str, timezone: str) -> None:
        self.sellers[seller_id] = (region, timezone)

    async def save_listing(self, seller_id: str, listing_id: str, sku_ids: Sequence[str]) -> None:
        for sku_id in sku_ids:
            old = self.skus.get(sku_id)
            self.skus[sku_id] = SkuRecord(sku_id, seller_id, listing_id, old.listing_type if old else "regular",
                                          old.handling_days if old else None)

    async def set_auto_cancel(self, seller_id: str, days: int | None, second_slip: bool) -> None:
        self.auto_cancels[seller_id] = (days, second_slip)

    async def auto_cancel(self, seller_id: str) -> tuple[int | None, bool]:
        return self.auto_cancels.get(seller_id, (None, False))

    async def sku(self, sku_id: str, *, lock: bool = False) -> SkuRecord | None:
        return self.skus.get(sku_id)

    async def set_backorder(self, sku_id: str, seller_id: str, listing_id: str, handling_days: int) -> None:
        self.skus[sku_id] = SkuRecord(sku_id, seller_id, listing_id, "backorder", handling_days)

    async def set_listing_type(self, sku_id: str, listing_type: str) -> None:
        old = self.skus.get(sku_id)
        if old:
            self.skus[sku_id] = SkuRecord(sku_id, old.seller_id, old.listing_id, listing_type, old.handling_days)

    async def terms(self, sku_ids: Sequence[str]) -> dict[str, SkuTerms]:
        found = {}
        for sku_id in sku_ids:
            if sku := self.skus.get(sku_id):
                region, tz = self.sellers.get(sku.seller_id, ("", ""))
                found[sku_id] = SkuTerms(sku.seller_id, region, tz, sku.handling_days, sku.listing_type)
        return found


class FakeStock:
    def __init__(self) -> None:
        self.level: dict[tuple[str, str], tuple[int, datetime]] = {}
        self.exhausted_at: dict[str, datetime] = {}

    async def levels(self, rows: Sequence[tuple[str, str, int, datetime]]) -> None:
        for sku_id, wh, atp, at in rows:
            old = self.level.get((sku_id, wh))
            if old is None or old[1] <= at:
                self.level[(sku_id, wh)] = (atp, at)

    async def exhausted(self, sku_ids: Sequence[str], at: datetime) -> None:
        for sku_id in sku_ids:
            self.exhausted_at[sku_id] = max(at, self.exhausted_at.get(sku_id, at))

    async def exhausted_many(self, rows: Sequence[tuple[str, datetime]]) -> None:
        for sku_id, at in rows:
            await self.exhausted([sku_id], at)

    async def status(self, sku_id: str) -> StockStatus:
        rows = {wh: v for (s, wh), v in self.level.items() if s == sku_id}
        if SKU_WIDE in rows:
            atp: int | None = rows[SKU_WIDE][0]
        else:
            atp = sum(v[0] for v in rows.values()) if rows else None
        as_of = max((v[1] for v in rows.values()), default=None)
        return StockStatus(atp, as_of, self.exhausted_at.get(sku_id))


@dataclass
class FixedClock:
    at: datetime

    def now(self) -> datetime:
        return self.at


@dataclass
class Emitted:
    topic: str
    key: str | None
    payload: Any
    correlation_id: uuid.UUID | None = None
    cause: Cause | None = None


@dataclass
class FakeUoW:
    clock: FixedClock
    orders: FakeOrders = field(default_factory=FakeOrders)
    catalog: FakeCatalog = field(default_factory=FakeCatalog)
    stock: FakeStock = field(default_factory=FakeStock)
    dating: DatingPolicy = field(default_factory=lambda: DatingPolicy(transit_days=DEFAULT_TRANSIT_DAYS))
    cause: Cause | None = None
    emitted: list[Emitted] = field(default_factory=list)
    committed: list[Callable[[], None]] = field(default_factory=list)

    def acting_as(self, kind: str | None, principal_id: str = "", message_type: str = "",
                  occurred_at: datetime | None = None) -> FakeUoW:
        principal = Principal(kind=kind, id=principal_id) if kind else None
        self.cause = Cause(uuid.uuid4(), uuid.uuid4(), principal, message_type, occurred_at or self.clock.now())
        return self

    @contextmanager
    def caused_by(self, cause: Cause | None) -> Iterator[None]:
        previous, self.cause = self.cause, cause
        try:
            yield
        finally:
            self.cause = previous

    def emit(self, topic: Topic | str, payload: Payload, *, key: str | None) -> Any:
        self.emitted.append(Emitted(topic.name if isinstance(topic, Topic) else topic, key, payload,
                                    cause=self.cause))

    def emit_in_flow(self, topic: Topic, payload: Payload, *, key: str, correlation_id: uuid.UUID | None) -> Any:
        self.emitted.append(Emitted(topic.name, key, payload, correlation_id))

    def after_commit(self, action: Callable[[], None]) -> None:
        self.committed.append(action)

    async def orders_and_terms(self, order_ids: Sequence[str], sku_ids: Sequence[str] = (), *,
                               lock: bool = False) -> tuple[dict[str, Order], dict[str, SkuTerms]]:
        orders = await self.orders.get_many(order_ids, lock=lock)
        lines = {line.sku_id for order in orders.values() for line in order.lines}
        return orders, await self.catalog.terms(sorted(set(sku_ids) | lines))

    def commit_done(self) -> None:
        """What the runtime does once the transaction committed."""
        done, self.committed = self.committed, []
        for action in done:
            action()

    def types(self) -> list[str]:
        return [e.payload.message_type for e in self.emitted]

    def take(self) -> list[Any]:
        taken = [e.payload for e in self.emitted]
        self.emitted.clear()
        return taken
