"""Inventory persistence: named queries from ``sql/`` and the one place rows become domain objects.

Locking: ``lock`` takes the SKU rows, then their level rows, each in key order, so two
transactions touching the same SKUs never wait on each other in a cycle. Allocation
parts are only changed while their SKU is locked.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

import asyncpg

from services.inventory.domain import (
    DEFAULT_WAREHOUSE_PRIORITY,
    HeldPart,
    Level,
    Movement,
    PartState,
    Policy,
    WaitingPart,
)
from services.inventory.projection import OpenInbound, QueuedPart, SupplyAndQueue
from services.inventory.promise import SellerTerms
from services.inventory.stock import Stock, Why
from shared.domain import Rejection
from shared.persistence.db import Conn, fetch_all, load_queries
from shared.persistence.staging import StagedWrite, stage_or_send

queries = load_queries(Path(__file__).parent / "sql")


def _policy(row: Any) -> Policy:
    pool = row["transfer_warehouses"]
    return Policy(row["sku_id"], row["seller_id"], row["backorder_enabled"], row["safety_stock"],
                  row["low_stock_threshold"], row["low_stock_alerted"], row["handling_days"],
                  row["transfers_allowed"], tuple(pool) if pool is not None else None, row["may_project"])


def _held(row: Any) -> HeldPart:
    return HeldPart(row["order_id"], row["line_id"], row["part_no"], row["sku_id"], row["warehouse_id"],
                    row["source"], row["qty"], row["state"], row["ship_from"])


class InventoryRepository:
    def __init__(self, conn: Conn, warehouse_priority: Mapping[str, int] | None = None) -> None:
        self.conn = conn
        self.warehouse_priority = dict(warehouse_priority or {})

    def _level(self, row: Any) -> Level:
        return Level(row["sku_id"], row["warehouse_id"], row["on_hand"], row["allocated"], row["backorder_limit"],
                     row["backorder_allocated"],
                     self.warehouse_priority.get(row["warehouse_id"], DEFAULT_WAREHOUSE_PRIORITY))

    # ------------------------------------------------------------------ the SKU lock

    async def lock(self, sku_ids: Iterable[str], *, ensure_skus: bool = False,
                   ensure_levels: Iterable[tuple[str, str]] = ()) -> Stock:
        """Lock SKUs (creating their rows if ``ensure_skus``) and all their levels (creating the
        ``ensure_levels`` ones), in key order. SKUs inventory never heard of stay absent."""
        wanted_levels = sorted(set(ensure_levels))
        skus = sorted(set(sku_ids) | {sku for sku, _ in wanted_levels})
        for sku_id in skus if ensure_skus else sorted({sku for sku, _ in wanted_levels}):
            await queries.ensure_sku(self.conn, sku_id=sku_id)  # a level's SKU row is its lock: it always exists
        if not wanted_levels:
            stock, _ = await self.lock_and_decided(skus, ())
            return stock
        rows = await fetch_all(queries.lock_skus, self.conn, sku_ids=skus)
        policies = {r["sku_id"]: _policy(r) for r in rows}
        for sku_id, warehouse_id in wanted_levels:
            await queries.ensure_level(self.conn, sku_id=sku_id, warehouse_id=warehouse_id)
        levels = await fetch_all(queries.lock_levels, self.conn, sku_ids=skus)
        return Stock(policies, [self._level(r) for r in levels])

    async def lock_and_decided(self, sku_ids: Iterable[str], order_ids: Sequence[str]) -> tuple[Stock, set[str]]:
        """``lock`` (creating nothing) and ``decided``, in one read. Should a SKU count more or fewer levels than
        were read (another transaction added one while this waited for the SKU's lock), they are read again."""
        skus = sorted(set(sku_ids))
        rows = await fetch_all(queries.lock_stock, self.conn, sku_ids=skus, order_ids=list(order_ids))
        decided = set(rows[0]["decided"] or []) if rows else set()
        policies = {r["sku_id"]: _policy(r) for r in rows if r["sku_id"] is not None}
        read = [r for r in rows if r["warehouse_id"] is not None]
        counted = {r["sku_id"]: r["level_count"] for r in rows if r["sku_id"] is not None}
        if any(sum(1 for r in read if r["sku_id"] == sku_id) != n for sku_id, n in counted.items()):
            read = await fetch_all(queries.lock_levels, self.conn, sku_ids=skus)
        return Stock(policies, [self._level(r) for r in read]), decided

    async def save_levels(self, stock: Stock) -> list[Level]:
        """Write the changed levels as deltas, in one statement, and check the rows as stored
        equal the levels decided on: anything else means the SKU lock was not held."""
        return await self.save(stock, ())

    async def save(self, stock: Stock, entries: Sequence[tuple[Movement, Why]],
                   decisions: Sequence[tuple[str, bool, datetime]] = (),
                   parts: Sequence[dict[str, Any]] = ()) -> list[Level]:
        """``record_decisions``, ``insert_parts``, ``record`` and ``save_levels``, staged: they ride the
        transaction's next statement together, with ``save_levels``'s check of the rows as stored."""
        changed = stock.changed()
        await self.record_decisions(decisions)
        await self.insert_parts(parts)
        await self.record(entries)
        if changed:
            deltas = [stock.delta(level) for level in changed]
            await stage_or_send(self.conn)(StagedWrite(queries.stage_level_deltas.sql, [
                {"sku_id": lv.sku_id, "warehouse_id": lv.warehouse_id, "on_hand": d[0], "allocated": d[1],
                 "backorder_limit": d[2], "backorder_allocated": d[3]} for lv, d in zip(changed, deltas, strict=True)
            ], check=lambda rows: _check_stored(changed, rows)))
        return changed

    # ------------------------------------------------------------------ policies (SKU locked)

    async def policies(self, sku_ids: Sequence[str]) -> dict[str, Policy]:
        rows = await fetch_all(queries.get_policies, self.conn, sku_ids=sorted(set(sku_ids)))
        return {r["sku_id"]: _policy(r) for r in rows}

    async def set_owner(self, sku_id: str, seller_id: str) -> None:
        await queries.set_owner(self.conn, sku_id=sku_id, seller_id=seller_id)

    async def set_backorder_enabled(self, sku_id: str, seller_id: str | None, enabled: bool) -> None:
        await queries.set_backorder_enabled(self.conn, sku_id=sku_id, seller_id=seller_id, enabled=enabled)

    async def set_handling_days(self, sku_id: str, handling_days: int) -> None:
        await queries.set_handling_days(self.conn, sku_id=sku_id, handling_days=handling_days)

    async def save_seller(self, seller_id: str, region: str, timezone: str) -> None:
        await queries.upsert_seller(self.conn, seller_id=seller_id, region=region, timezone=timezone)

    async def seller_terms(self, sku_id: str) -> SellerTerms:
        """Where the SKU's seller dates its parts (R24); empty when inventory has not heard of it."""
        row = await queries.seller_of_sku(self.conn, sku_id=sku_id)
        return SellerTerms(row["region"], row["timezone"]) if row else SellerTerms()

    async def set_stock_policy(self, sku_id: str, safety_stock: int, threshold: int | None) -> None:
        await queries.set_stock_policy(self.conn, sku_id=sku_id, safety_stock=safety_stock, threshold=threshold)

    async def set_transfer_policy(self, sku_id: str, allowed: bool, warehouses: Sequence[str] | None) -> None:
        await queries.set_transfer_policy(self.conn, sku_id=sku_id, allowed=allowed,
                                          warehouses=list(warehouses) if warehouses is not None else None)

    async def set_low_stock_alerted(self, sku_id: str, alerted: bool) -> None:
        await queries.set_low_stock_alerted(self.conn, sku_id=sku_id, alerted=alerted)

    # ------------------------------------------------------------------ ledger (R12)

    async def record(self, entries: Sequence[tuple[Movement, Why]]) -> None:
        """Ledger rows, in order (staged)."""
        if entries:
            # vars() is asdict() without its recursive deep copy: these dataclasses hold plain values only
            await stage_or_send(self.conn)(StagedWrite(queries.stage_ledger.sql,
                                                       [{**vars(m), **vars(why)} for m, why in entries]))

    # ------------------------------------------------------------------ orders and parts

    async def decided(self, order_ids: Sequence[str]) -> set[str]:
        rows = await fetch_all(queries.decided_orders, self.conn, order_ids=list(order_ids))
        return {r["order_id"] for r in rows}

    async def record_decisions(self, decisions: Sequence[tuple[str, bool, datetime]]) -> None:
        """Orders decided (staged; an order decided before is refused by the key)."""
        if decisions:
            await stage_or_send(self.conn)(StagedWrite(queries.stage_decisions.sql, [
                {"order_id": o, "accepted": a, "placed_at": p} for o, a, p in decisions]))

    async def insert_parts(self, parts: Sequence[dict[str, Any]]) -> None:
        """Allocation parts, in order (staged)."""
        if parts:
            await stage_or_send(self.conn)(StagedWrite(queries.stage_parts.sql,
                                                       [{c: p[c] for c in _PART_COLUMNS} for p in parts]))

    async def waiting(self, sku_id: str, warehouse_id: str, units: int) -> list[WaitingPart]:
        """The head of the restock queue that ``units`` units can reach."""
        rows = await fetch_all(queries.waiting_parts, self.conn, sku_id=sku_id, warehouse_id=warehouse_id,
                               limit=units)
        return [WaitingPart(r["order_id"], r["line_id"], r["part_no"], r["qty"], r["priority"], r["placed_at"],
                            r["seq"]) for r in rows]

    async def waiting_pooled(self, sku_id: str, warehouse_ids: Sequence[str], units: int) -> list[WaitingPart]:
        """R31: the head of the SKU's queue over a pool of warehouses that ``units`` units can reach."""
        rows = await fetch_all(queries.waiting_parts_pooled, self.conn, sku_id=sku_id,
                               warehouse_ids=sorted(warehouse_ids), limit=units)
        return [WaitingPart(r["order_id"], r["line_id"], r["part_no"], r["qty"], r["priority"], r["placed_at"],
                            r["seq"], r["warehouse_id"]) for r in rows]

    async def fill_from(self, part: WaitingPart, qty: int, ship_from: str) -> None:
        """R31: ``qty`` units of a waiting part filled from ``ship_from``'s stock: the part, or its filled
        units split off as a part of their own, ships from there."""
        if qty == part.qty:
            await queries.fill_part_from(self.conn, order_id=part.order_id, line_id=part.line_id,
                                         part_no=part.part_no, ship_from=ship_from)
        else:
            await queries.split_part(self.conn, order_id=part.order_id, line_id=part.line_id, part_no=part.part_no,
                                     qty=qty, ship_from=ship_from)

    async def held(self, order_id: str, line_ids: Sequence[str], *, lock: bool = False) -> list[HeldPart]:
        """Parts of these lines still held. Read without ``lock`` to learn which SKUs to lock,
        then again with it once they are."""
        query = queries.lock_held_parts if lock else queries.held_parts
        return [_held(r) for r in await fetch_all(query, self.conn, order_id=order_id, line_ids=list(line_ids))]

    async def set_part_state(self, part: HeldPart | WaitingPart, state: PartState) -> None:
        await queries.set_part_state(self.conn, order_id=part.order_id, line_id=part.line_id, part_no=part.part_no,
                                     state=state)

    async def split_part(self, part: WaitingPart, filled_qty: int) -> None:
        """A partial fill: the filled units become their own ``filled`` part; the rest keeps waiting."""
        await queries.split_part(self.conn, order_id=part.order_id, line_id=part.line_id, part_no=part.part_no,
                                 qty=filled_qty, ship_from=None)

    async def ship_some(self, part: HeldPart, qty: int) -> None:
        """R27: ``qty`` units of a held part shipped; the rest stays held."""
        await queries.ship_some(self.conn, order_id=part.order_id, line_id=part.line_id, part_no=part.part_no, qty=qty)

    async def set_priority(self, order_id: str, sku_id: str, priority: int) -> int:
        return int(await queries.set_priority(self.conn, order_id=order_id, sku_id=sku_id, priority=priority))

    async def new_receipt(self, receipt_id: str, sku_id: str, warehouse_id: str, qty: int) -> bool:
        """Book a receipt id; False when it was booked before for the same stock (a repeat).
        The same id for different stock is refused."""
        if await queries.insert_receipt(self.conn, receipt_id=receipt_id, sku_id=sku_id, warehouse_id=warehouse_id,
                                        qty=qty) is not None:
            return True
        row = await queries.get_receipt(self.conn, receipt_id=receipt_id)
        if row is not None and (row["sku_id"], row["warehouse_id"], row["qty"]) != (sku_id, warehouse_id, qty):
            raise Rejection("receipt_id_reused",
                            f"receipt {receipt_id} was booked for {row['qty']} x {row['sku_id']} in "
                            f"{row['warehouse_id']}")
        return False

    # ------------------------------------------------------------------ inbounds and projections (R28)

    async def inbound(self, inbound_id: str) -> dict[str, Any] | None:
        row = await queries.get_inbound(self.conn, inbound_id=inbound_id)
        return dict(row) if row else None

    async def insert_inbound(self, inbound_id: str, sku_id: str, warehouse_id: str, qty: int,
                             expected_on: date) -> None:
        await queries.insert_inbound(self.conn, inbound_id=inbound_id, sku_id=sku_id, warehouse_id=warehouse_id,
                                     qty=qty, expected_on=expected_on)

    async def update_inbound(self, inbound: dict[str, Any]) -> None:
        await queries.update_inbound(self.conn, **{k: inbound[k] for k in
                                                   ("inbound_id", "qty", "expected_on", "received", "state")})

    async def warehouse_known(self, warehouse_id: str) -> bool:
        return bool(await queries.warehouse_known(self.conn, warehouse_id=warehouse_id))

    async def open_inbounds(self, sku_id: str) -> list[OpenInbound]:
        rows = await fetch_all(queries.open_inbounds, self.conn, sku_id=sku_id)
        return [OpenInbound(r["inbound_id"], r["warehouse_id"], r["remaining"], r["expected_on"]) for r in rows]

    async def waiting_queue(self, sku_id: str) -> list[QueuedPart]:
        return _queued_parts(await fetch_all(queries.waiting_queue, self.conn, sku_id=sku_id))

    async def projected_parts(self, sku_id: str) -> list[QueuedPart]:
        return _queued_parts(await fetch_all(queries.projected_parts, self.conn, sku_id=sku_id))

    async def reprojection_inputs(self, sku_ids: Sequence[str]) -> SupplyAndQueue:
        found: SupplyAndQueue = {}
        for r in await fetch_all(queries.reprojection_inputs, self.conn, sku_ids=list(sku_ids)):
            inbounds, queue = found.setdefault(r["sku_id"], ([], []))
            if r["kind"] == "inbound":
                inbounds.append(OpenInbound(r["inbound_id"], r["warehouse_id"], r["qty"], r["expected_on"]))
            else:
                queue.append(QueuedPart(r["order_id"], r["line_id"], r["part_no"], r["warehouse_id"], r["qty"],
                                        r["projected_on"], r["projected_inbound"]))
        return found

    async def projection_idle(self, sku_ids: Sequence[str]) -> None:
        """R28: these SKUs have nothing to project until their inbounds change (staged)."""
        if sku_ids:
            await stage_or_send(self.conn)(StagedWrite(queries.stage_projection_idle.sql,
                                                       [{"sku_id": sku_id} for sku_id in sku_ids]))

    async def set_projections(self, parts: Sequence[QueuedPart]) -> None:
        if parts:
            await queries.set_projections(
                self.conn, order_ids=[p.order_id for p in parts], line_ids=[p.line_id for p in parts],
                part_nos=[p.part_no for p in parts], dates=[p.projected_on for p in parts],
                inbound_ids=[p.inbound_id for p in parts])

    async def sku_inbounds(self, sku_id: str) -> list[dict[str, Any]]:
        return [dict(r) for r in await fetch_all(queries.sku_inbounds, self.conn, sku_id=sku_id)]

    # ------------------------------------------------------------------ read side

    async def sku_levels(self, sku_id: str) -> list[Level]:
        rows = await fetch_all(queries.sku_levels, self.conn, sku_id=sku_id)
        return [self._level({**dict(r), "sku_id": sku_id}) for r in rows]

    async def ledger(self, sku_id: str, limit: int = 100) -> list[dict[str, Any]]:
        return [dict(r) for r in await fetch_all(queries.ledger_of_sku, self.conn, sku_id=sku_id, limit=limit)]

    async def order_parts(self, order_id: str) -> list[dict[str, Any]]:
        return [dict(r) for r in await fetch_all(queries.order_parts, self.conn, order_id=order_id)]

    async def ledger_mismatches(self) -> list[tuple[str, str]]:
        return [(r["sku_id"], r["warehouse_id"]) for r in await fetch_all(queries.ledger_mismatches, self.conn)]

    async def parts_mismatches(self) -> list[tuple[str, str]]:
        return [(r["sku_id"], r["warehouse_id"]) for r in await fetch_all(queries.parts_mismatches, self.conn)]

    async def ledger_totals(self) -> dict[str, int]:
        row = await queries.ledger_totals(self.conn)
        return {"rows": int(row["rows"]), "levels": int(row["levels"])}


#: the columns of an allocation part's row
_PART_COLUMNS = ("order_id", "line_id", "part_no", "sku_id", "warehouse_id", "source", "qty", "state", "placed_at")


def _check_stored(changed: Sequence[Level], rows: Sequence[Mapping[str, Any]]) -> None:
    """The rows as stored must equal the levels decided on: anything else means the SKU lock was not held."""
    stored = {(r["sku_id"], r["warehouse_id"]): (r["on_hand"], r["allocated"], r["backorder_limit"],
                                                 r["backorder_allocated"]) for r in rows}
    for level in changed:
        decided = (level.on_hand, level.allocated, level.backorder_limit, level.backorder_allocated)
        if stored.get((level.sku_id, level.warehouse_id)) != decided:
            raise AssertionError(f"level {level.sku_id}@{level.warehouse_id} changed under its lock: "
                                 f"stored {stored.get((level.sku_id, level.warehouse_id))}, decided {decided}")


def _queued_parts(rows: Sequence[asyncpg.Record]) -> list[QueuedPart]:
    return [QueuedPart(r["order_id"], r["line_id"], r["part_no"], r["warehouse_id"], r["qty"], r["projected_on"],
                       r["projected_inbound"]) for r in rows]
