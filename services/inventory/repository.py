"""Inventory persistence: named queries from ``sql/`` and the one place rows become domain objects."""

from __future__ import annotations

from dataclasses import asdict, astuple
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg

from services.inventory.domain import HeldPart, Level, Movement, Policy, WaitingPart
from shared.persistence.db import fetch_all, load_queries

queries = load_queries(Path(__file__).parent / "sql")


def _level(row: Any) -> Level:
    return Level(row["sku_id"], row["warehouse_id"], row["on_hand"], row["allocated"], row["backorder_limit"],
                 row["backorder_allocated"], row["priority"])


def _policy(row: Any) -> Policy:
    return Policy(row["sku_id"], row["seller_id"], row["backorder_enabled"], row["safety_stock"],
                  row["low_stock_threshold"], row["low_stock_alerted"])


class LevelSet:
    """Locked levels of some SKUs, and which of them changed since they were read."""

    def __init__(self, levels: list[Level]) -> None:
        self.by_sku: dict[str, dict[str, Level]] = {}
        for level in levels:
            self.by_sku.setdefault(level.sku_id, {})[level.warehouse_id] = level
        self._snapshot = {(lv.sku_id, lv.warehouse_id): astuple(lv) for lv in levels}

    def get(self, sku_id: str, warehouse_id: str) -> Level:
        return self.by_sku[sku_id][warehouse_id]

    def changed(self) -> list[Level]:
        out = []
        for sku_levels in self.by_sku.values():
            for level in sku_levels.values():
                if self._snapshot.get((level.sku_id, level.warehouse_id)) != astuple(level):
                    level.check()
                    out.append(level)
        return out


class InventoryRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def lock_levels(self, sku_ids: list[str], ensure: list[tuple[str, str]] = (),  # type: ignore[assignment]
                          priorities: dict[str, int] | None = None) -> LevelSet:
        for sku_id, warehouse_id in sorted(set(ensure)):
            await queries.ensure_level(self.conn, sku_id=sku_id, warehouse_id=warehouse_id,
                                       priority=(priorities or {}).get(warehouse_id, 100))
        rows = await fetch_all(queries.lock_levels, self.conn, sku_ids=sorted(set(sku_ids)))
        return LevelSet([_level(r) for r in rows])

    async def save_levels(self, levels: LevelSet) -> list[Level]:
        changed = levels.changed()
        if changed:
            await queries.update_levels(self.conn, [asdict(lv) for lv in changed])
        return changed

    async def policies(self, sku_ids: list[str]) -> dict[str, Policy]:
        rows = await fetch_all(queries.get_policies, self.conn, sku_ids=sorted(set(sku_ids)))
        return {r["sku_id"]: _policy(r) for r in rows}

    async def set_owner(self, sku_id: str, seller_id: str) -> None:
        await queries.upsert_owner(self.conn, sku_id=sku_id, seller_id=seller_id)

    async def set_backorder_enabled(self, sku_id: str, seller_id: str | None, enabled: bool) -> None:
        await queries.set_backorder_enabled(self.conn, sku_id=sku_id, seller_id=seller_id, enabled=enabled)

    async def set_stock_policy(self, sku_id: str, safety_stock: int, threshold: int | None) -> None:
        await queries.set_stock_policy(self.conn, sku_id=sku_id, safety_stock=safety_stock, threshold=threshold)

    async def set_low_stock_alerted(self, sku_id: str, alerted: bool) -> None:
        await queries.set_low_stock_alerted(self.conn, sku_id=sku_id, alerted=alerted)

    async def record(self, movements: list[Movement], cause_id: str, actor: str | None) -> None:
        if movements:
            await queries.insert_ledger(
                self.conn, [{**asdict(m), "cause_id": cause_id, "actor": actor} for m in movements]
            )

    async def decided(self, order_ids: list[str]) -> set[str]:
        return {r["order_id"] for r in await fetch_all(queries.decided_orders, self.conn, order_ids=order_ids)}

    async def record_decisions(self, decisions: list[tuple[str, bool, datetime]]) -> None:
        if decisions:
            await queries.insert_decisions(
                self.conn, [{"order_id": o, "accepted": a, "placed_at": p} for o, a, p in decisions]
            )

    async def insert_parts(self, parts: list[dict[str, Any]]) -> None:
        if parts:
            await queries.insert_parts(self.conn, parts)

    async def waiting(self, sku_id: str, warehouse_id: str) -> list[WaitingPart]:
        rows = await fetch_all(queries.waiting_parts, self.conn, sku_id=sku_id, warehouse_id=warehouse_id)
        return [WaitingPart(r["order_id"], r["line_id"], r["part_no"], r["qty"], r["priority"], r["placed_at"],
                            r["seq"]) for r in rows]

    async def held(self, order_id: str, line_ids: list[str]) -> list[HeldPart]:
        rows = await fetch_all(queries.held_parts, self.conn, order_id=order_id, line_ids=line_ids)
        return [HeldPart(r["order_id"], r["line_id"], r["part_no"], r["sku_id"], r["warehouse_id"], r["source"],
                         r["qty"], r["state"]) for r in rows]

    async def set_part_state(self, order_id: str, line_id: str, part_no: int, state: str) -> None:
        await queries.set_part_state(self.conn, order_id=order_id, line_id=line_id, part_no=part_no, state=state)

    async def split_part(self, part: WaitingPart, filled_qty: int, placed_at: datetime, sku_id: str,
                         warehouse_id: str) -> None:
        """A partial fill: the filled units become their own ``filled`` part; the rest keeps waiting."""
        await queries.shrink_part(self.conn, order_id=part.order_id, line_id=part.line_id, part_no=part.part_no,
                                  qty=filled_qty)
        part_no = await queries.next_part_no(self.conn, order_id=part.order_id, line_id=part.line_id)
        await self.insert_parts([{
            "order_id": part.order_id, "line_id": part.line_id, "part_no": part_no, "sku_id": sku_id,
            "warehouse_id": warehouse_id, "source": "backorder", "qty": filled_qty, "state": "filled",
            "placed_at": placed_at,
        }])

    async def set_priority(self, order_id: str, sku_id: str, priority: int) -> int:
        return int(await queries.set_priority(self.conn, order_id=order_id, sku_id=sku_id, priority=priority))

    async def new_receipt(self, receipt_id: str, sku_id: str, warehouse_id: str, qty: int) -> bool:
        row = await queries.insert_receipt(self.conn, receipt_id=receipt_id, sku_id=sku_id,
                                           warehouse_id=warehouse_id, qty=qty)
        return row is not None

    # read side
    async def sku_levels(self, sku_id: str) -> list[dict[str, Any]]:
        return [dict(r) for r in await fetch_all(queries.sku_levels, self.conn, sku_id=sku_id)]

    async def ledger(self, sku_id: str, limit: int = 100) -> list[dict[str, Any]]:
        return [dict(r) for r in await fetch_all(queries.ledger_of_sku, self.conn, sku_id=sku_id, limit=limit)]

    async def order_parts(self, order_id: str) -> list[dict[str, Any]]:
        return [dict(r) for r in await fetch_all(queries.order_parts, self.conn, order_id=order_id)]

    async def ledger_mismatches(self) -> list[tuple[str, str]]:
        rows = await fetch_all(queries.ledger_mismatches, self.conn)
        return [(r["sku_id"], r["warehouse_id"]) for r in rows]
