"""Orders persistence: named queries from ``sql/`` and the one place rows become domain objects.

Three stores hang on one connection (one transaction):

* ``OrderStore``: the order aggregates, the SLA clock's claims and late-shipment records;
* ``CatalogView``: the read model of ``catalog.events`` (sellers, SKUs, handling times);
* ``StockView``: stock signals from ``inventory.events``, to tell a SKU out of stock (R18).

They implement ``ports.OrderStorePort``, ``ports.CatalogPort`` and ``ports.StockPort``, what the
handlers depend on; unit tests give those in-memory fakes.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import orjson

from services.orders.domain import Order, SkuTerms
from services.orders.kpis import KpiCounts, LostDemand
from services.orders.lines import Line, Part
from services.orders.views import LostLine, SkuRecord, StockStatus
from shared.persistence.db import Conn, fetch_all, load_queries
from shared.persistence.staging import StagedWrite, stage_or_send

queries = load_queries(Path(__file__).parent / "sql")

@dataclass(frozen=True)
class LateLine:
    """A line the SLA clock just found late (R15)."""

    order_id: str
    line_id: str
    sku_id: str
    seller_id: str | None
    buyer_id: str
    ship_by: date
    estimated_delivery: date
    due_at: datetime
    correlation_id: uuid.UUID | None


# ---------------------------------------------------------------- rows <-> domain


def _line(row: Any, parts: list[Part]) -> Line:
    return Line(
        line_id=row["line_id"], sku_id=row["sku_id"], qty=row["qty"], seller_id=row["seller_id"], state=row["state"],
        parts=parts, seller_region=row["seller_region"], seller_timezone=row["seller_timezone"],
        handling_days=row["handling_days"], due_at=row["due_at"], late_at=row["late_at"],
        shipped_at=row["shipped_at"], tracking_number=row["tracking_number"], delivered_at=row["delivered_at"],
        cancelled_at=row["cancelled_at"], cancel_reason=row["cancel_reason"], replacement=row["replacement"],
        shipments=[(str(t), int(q)) for t, q in _json_list(row["shipments"])],
    )


def _json_list(value: Any) -> list[Any]:
    """A jsonb column as asyncpg hands it over: text, unless a codec decoded it already."""
    return list(orjson.loads(value) if isinstance(value, str | bytes) else value or [])


def _part(row: Any) -> Part:
    return Part(row["part_no"], row["warehouse_id"], row["source"], row["qty"], row["ship_by"],
                row["estimated_delivery"], row["released_qty"])


def _order(row: Any, lines: list[Line]) -> Order:
    return Order(
        order_id=row["order_id"], buyer_id=row["buyer_id"], buyer_email=row["buyer_email"], region=row["region"],
        locale=row["locale"], timezone=row["timezone"], placed_at=row["placed_at"], lines=lines,
        status=row["status"], decided_at=row["decided_at"], reject_reason=row["reject_reason"],
        received_at=row["received_at"],
    )


def _line_params(order: Order, position: int, line: Line) -> dict[str, Any]:
    return {
        "order_id": order.order_id, "line_id": line.line_id, "position": position, "sku_id": line.sku_id,
        "qty": line.qty, "seller_id": line.seller_id, "state": line.state, "seller_region": line.seller_region,
        "seller_timezone": line.seller_timezone, "handling_days": line.handling_days, "due_at": line.due_at,
        "shipped_at": line.shipped_at, "tracking_number": line.tracking_number, "delivered_at": line.delivered_at,
        "cancelled_at": line.cancelled_at, "cancel_reason": line.cancel_reason, "replacement": line.replacement,
        "shipments": [list(s) for s in line.shipments],
    }


def _part_params(order: Order, line: Line, part: Part) -> dict[str, Any]:
    return {
        "order_id": order.order_id, "line_id": line.line_id, "part_no": part.part_no,
        "warehouse_id": part.warehouse_id, "source": part.source, "qty": part.qty,
        "released_qty": part.released_qty, "ship_by": part.ship_by, "estimated_delivery": part.estimated_delivery,
    }


def _lines_and_parts(orders: Sequence[Order]) -> dict[Any, list[dict[str, Any]]]:
    return {
        queries.stage_lines: [_line_params(order, i, line) for order in orders for i, line in enumerate(order.lines)],
        queries.stage_parts: [_part_params(order, line, part) for order in orders for line in order.lines
                              for part in line.parts],
    }


def _terms(rows: Sequence[Any]) -> dict[str, SkuTerms]:
    return {
        r["sku_id"]: SkuTerms(seller_id=r["seller_id"], region=r["region"] or "", timezone=r["timezone"] or "",
                              handling_days=r["handling_days"], listing_type=r["listing_type"])
        for r in rows
    }


# ---------------------------------------------------------------- stores


class OrderStore:
    def __init__(self, conn: Conn) -> None:
        self.conn = conn

    async def get(self, order_id: str, *, lock: bool = False) -> Order | None:
        """The whole aggregate; with ``lock``, the order and its lines are locked until commit."""
        return (await self.get_many([order_id], lock=lock)).get(order_id)

    async def get_many(self, order_ids: Sequence[str], *, lock: bool = False) -> dict[str, Order]:
        """The aggregates of the orders that exist, by id, in two queries whatever their number;
        with ``lock``, the orders (in key order) and their lines are locked until commit."""
        ids = sorted(set(order_ids))
        if not ids:
            return {}
        return await self._orders(
            await fetch_all(queries.lock_orders if lock else queries.get_orders, self.conn, order_ids=ids))

    async def get_many_and_terms(self, order_ids: Sequence[str], sku_ids: Sequence[str] = (), *,
                                 lock: bool = False) -> tuple[dict[str, Order], dict[str, SkuTerms]]:
        """``get_many``, and the terms of ``sku_ids`` and of the orders' lines' SKUs (``CatalogView.terms``),
        in one read (and one more for the parts of decided orders)."""
        rows = await fetch_all(queries.lock_orders_and_terms if lock else queries.orders_and_terms, self.conn,
                               order_ids=sorted(set(order_ids)), sku_ids=sorted(set(sku_ids)))
        terms = _terms(rows[0]["terms"] or []) if rows else {}
        return await self._orders([r for r in rows if r["order_id"] is not None]), terms

    async def _orders(self, rows: list[Any]) -> dict[str, Order]:
        """Rows of orders joined with their lines become orders, with the parts of the decided ones."""
        if not rows:
            return {}
        # parts are dated at acceptance, which decides the order: an undecided order has none
        decided = sorted({r["order_id"] for r in rows if r["decided_at"] is not None})
        parts: dict[tuple[str, str], list[Part]] = {}
        for part_row in await fetch_all(queries.get_parts, self.conn, order_ids=decided) if decided else []:
            parts.setdefault((part_row["order_id"], part_row["line_id"]), []).append(_part(part_row))
        firsts: dict[str, Any] = {}
        lines: dict[str, list[Line]] = {}
        for r in rows:  # an order's row, once per line
            firsts.setdefault(r["order_id"], r)
            lines.setdefault(r["order_id"], []).append(_line(r, parts.get((r["order_id"], r["line_id"]), [])))
        return {order_id: _order(first, lines[order_id]) for order_id, first in firsts.items()}

    async def add(self, order: Order, correlation_id: uuid.UUID | None) -> None:
        await self.add_many([(order, correlation_id)])

    async def add_many(self, orders: Sequence[tuple[Order, uuid.UUID | None]]) -> None:
        """Insert new orders with their lines (staged: they ride the batch's last statement)."""
        if not orders:
            return
        await self._stage(queries.stage_new_orders, [
            {"order_id": order.order_id, "buyer_id": order.buyer_id, "buyer_email": order.buyer_email,
             "region": order.region, "locale": order.locale, "timezone": order.timezone,
             "placed_at": order.placed_at, "status": order.status, "tags": order.tags,
             "correlation_id": correlation_id, "received_at": order.received_at}
            for order, correlation_id in orders])
        await self._stage_lines_and_parts([order for order, _ in orders])

    async def save(self, order: Order) -> None:
        await self.save_many([order])

    async def save_many(self, orders: Sequence[Order]) -> None:
        """Write changed orders back with their lines and parts (staged)."""
        if not orders:
            return
        await self._stage(queries.stage_changed_orders, [
            {"order_id": order.order_id, "status": order.status, "tags": order.tags,
             "decided_at": order.decided_at, "reject_reason": order.reject_reason} for order in orders])
        await self._stage_lines_and_parts(orders)

    async def _stage_lines_and_parts(self, orders: Sequence[Order]) -> None:
        for query, rows in _lines_and_parts(orders).items():
            await self._stage(query, rows)

    async def _stage(self, query: Any, rows: list[dict[str, Any]]) -> None:
        if rows:
            await stage_or_send(self.conn)(StagedWrite(query.sql, rows))

    async def correlation_of(self, order_id: str) -> uuid.UUID | None:
        value = await queries.correlation_of(self.conn, order_id=order_id)
        return value if isinstance(value, uuid.UUID) else None

    async def record_slip(self, order_id: str, line_id: str, promised: date) -> tuple[int, date]:
        """R30: one more inbound slip of a line; its count and the ship-by first promised."""
        row = await queries.record_slip(self.conn, order_id=order_id, line_id=line_id, promised=promised)
        return int(row["slips"]), row["promised_ship_by"]

    async def orders_waiting_for(self, sku_id: str) -> list[str]:
        return [r["order_id"] for r in await fetch_all(queries.orders_waiting_for_sku, self.conn, sku_id=sku_id)]

    async def record_release(self, order_id: str, line_id: str, warehouse_id: str, receipt_id: str, qty: int,
                             at: datetime) -> bool:
        """Remember a receipt's release; False if that receipt released this part before."""
        inserted = await queries.record_release(
            self.conn, order_id=order_id, line_id=line_id, warehouse_id=warehouse_id, receipt_id=receipt_id,
            qty=qty, released_at=at,
        )
        return inserted is not None

    async def record_lost_demand(self, lines: Sequence[LostLine]) -> None:
        """R33: lines refused out of stock, once per line (a repeated rejection adds nothing)."""
        await self._stage(queries.stage_lost_demand, [
            {"order_id": x.order_id, "line_id": x.line_id, "sku_id": x.sku_id, "seller_id": x.seller_id,
             "qty": x.qty, "rejected_at": x.rejected_at} for x in lines])

    # the SLA clock
    async def fire_due(self, now: datetime, limit: int) -> list[LateLine]:
        rows = await fetch_all(queries.fire_due_lines, self.conn, now=now, limit=limit)
        return [
            LateLine(r["order_id"], r["line_id"], r["sku_id"], r["seller_id"], r["buyer_id"], r["ship_by"],
                     r["estimated_delivery"], r["due_at"], r["correlation_id"])
            for r in rows
        ]

    async def next_due(self) -> datetime | None:
        value = await queries.next_due(self.conn)
        return value if isinstance(value, datetime) else None

    # read side
    async def seller_orders(self, seller_id: str, *, tag: str | None, status: str | None, late: bool | None,
                            after: tuple[datetime, str] | None, limit: int) -> list[dict[str, Any]]:
        rows = await fetch_all(
            queries.seller_orders, self.conn, seller_id=seller_id, tag=tag, status=status, late=late,
            after_placed_at=after[0] if after else None, after_order_id=after[1] if after else None, limit=limit,
        )
        return [dict(r) for r in rows]

    async def buyer_orders(self, buyer_id: str, *, after: tuple[datetime, str] | None, limit: int) -> list[Order]:
        """A page of a buyer's orders, newest first (R26)."""
        rows = await fetch_all(queries.buyer_order_ids, self.conn, buyer_id=buyer_id,
                               after_placed_at=after[0] if after else None,
                               after_order_id=after[1] if after else None, limit=limit)
        orders = await self.get_many([r["order_id"] for r in rows])
        return [orders[r["order_id"]] for r in rows if r["order_id"] in orders]

    async def seller_stats(self, seller_id: str) -> dict[str, Any]:
        return dict(await queries.seller_stats(self.conn, seller_id=seller_id))


class CatalogView:
    def __init__(self, conn: Conn) -> None:
        self.conn = conn

    async def save_seller(self, seller_id: str, region: str, timezone: str) -> None:
        await queries.upsert_seller(self.conn, seller_id=seller_id, region=region, timezone=timezone)

    async def set_auto_cancel(self, seller_id: str, days: int | None, second_slip: bool) -> None:
        await queries.set_auto_cancel(self.conn, seller_id=seller_id, days=days, second_slip=second_slip)

    async def auto_cancel(self, seller_id: str) -> tuple[int | None, bool]:
        """R30: (days late beyond which, cancel at the second slip); (None, False) is off."""
        row = await queries.auto_cancel_of(self.conn, seller_id=seller_id)
        return (row["auto_cancel_days"], row["auto_cancel_second_slip"]) if row else (None, False)

    async def save_listing(self, seller_id: str, listing_id: str, sku_ids: Sequence[str]) -> None:
        await queries.upsert_listing_skus(
            self.conn, [{"sku_id": s, "seller_id": seller_id, "listing_id": listing_id} for s in sku_ids]
        )

    async def sku(self, sku_id: str, *, lock: bool = False) -> SkuRecord | None:
        row = await queries.lock_sku(self.conn, sku_id=sku_id) if lock else await queries.sku_view(
            self.conn, sku_id=sku_id)
        if row is None:
            return None
        return SkuRecord(row["sku_id"], row["seller_id"], row["listing_id"], row["listing_type"], row["handling_days"])

    async def set_backorder(self, sku_id: str, seller_id: str, listing_id: str, handling_days: int) -> None:
        await queries.set_backorder(self.conn, sku_id=sku_id, seller_id=seller_id, listing_id=listing_id,
                                    handling_days=handling_days)

    async def set_listing_type(self, sku_id: str, listing_type: str) -> None:
        await queries.set_listing_type(self.conn, sku_id=sku_id, listing_type=listing_type)

    async def terms(self, sku_ids: Sequence[str]) -> dict[str, SkuTerms]:
        """Seller, region, zone and handling time of the SKUs orders has heard of."""
        return _terms(await fetch_all(queries.sku_terms, self.conn, sku_ids=list(sku_ids)))

    async def view(self, sku_id: str) -> dict[str, Any] | None:
        row = await queries.sku_view(self.conn, sku_id=sku_id)
        return dict(row) if row else None


class StockView:
    def __init__(self, conn: Conn) -> None:
        self.conn = conn

    async def levels(self, rows: Sequence[tuple[str, str, int, datetime]]) -> None:
        """The newest level per SKU and warehouse (staged)."""
        newest: dict[tuple[str, str], tuple[int, datetime]] = {}
        for s, w, atp, at in rows:
            if (s, w) not in newest or newest[s, w][1] <= at:
                newest[s, w] = (atp, at)
        if newest:
            await stage_or_send(self.conn)(StagedWrite(queries.stage_stock.sql, [
                {"sku_id": s, "warehouse_id": w, "available_to_promise": atp, "as_of": at}
                for (s, w), (atp, at) in sorted(newest.items())]))

    async def exhausted(self, sku_ids: Sequence[str], at: datetime) -> None:
        await self.exhausted_many([(sku_id, at) for sku_id in sku_ids])

    async def exhausted_many(self, rows: Sequence[tuple[str, datetime]]) -> None:
        """Signals that SKUs ran out of regular stock at those times; the latest per SKU is kept."""
        latest: dict[str, datetime] = {}
        for sku_id, at in rows:
            latest[sku_id] = max(at, latest.get(sku_id, at))
        if latest:
            await stage_or_send(self.conn)(StagedWrite(
                queries.stage_exhausted.sql, [{"sku_id": s, "exhausted_at": latest[s]} for s in sorted(latest)]))

    async def status(self, sku_id: str) -> StockStatus:
        row = await queries.stock_status(self.conn, sku_id=sku_id)
        atp = row["available_to_promise"]
        return StockStatus(int(atp) if atp is not None else None, row["levels_as_of"], row["exhausted_at"])


class KpiView:
    """Read side of the KPIs (R23, R33)."""

    def __init__(self, conn: Conn) -> None:
        self.conn = conn

    async def counts(self, now: datetime) -> list[KpiCounts]:
        rows = await fetch_all(queries.kpi_counts, self.conn, now=now)
        return [KpiCounts(**dict(row)) for row in rows]

    async def lost_demand(self, seller_id: str | None, limit: int) -> list[LostDemand]:
        """R33: orders and units rejected out of stock per SKU and seller, the most units first."""
        rows = await fetch_all(queries.lost_demand, self.conn, seller_id=seller_id, limit=limit)
        return [LostDemand(**dict(row)) for row in rows]
