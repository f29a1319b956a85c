"""R12 at the handler level, against real PostgreSQL: a long random run of receipts, counts,
policies, backorder (de)activations, order batches, cancellations, shipments and priorities,
by several concurrent workers on the same SKUs, after which the ledger rebuilds to the
stored levels and the allocation parts add up to them.

Each step runs one handler in its own transaction, the way the consumer runtime does (a
``Rejection`` rolls it back). Any other error fails the test: a deadlock (lock order), a
CHECK violation (oversell), a broken invariant.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import orjson
import pytest

from services.inventory import domain, handlers
from services.inventory.settings import InventorySettings
from services.inventory.unit_of_work import InventoryUnitOfWork
from shared.cause import Cause
from shared.contract import catalog as cat
from shared.contract import inventory as inv
from shared.contract import orders as o
from shared.contract.envelope import Payload
from shared.domain import Rejection
from shared.messaging.decoding import Message

pytestmark = pytest.mark.integration

SKUS = ("sku-a", "sku-b", "sku-c")
WAREHOUSES = ("wh-1", "wh-2", "wh-3")
SETTINGS = InventorySettings(warehouse_priority={"wh-2": 1, "wh-3": 2})
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def cause(message_type: str) -> Cause:
    return Cause(uuid.uuid4(), uuid.uuid4(), None, message_type, datetime.now(UTC))


@dataclass
class World:
    """What the workers share: the orders accepted so far, and counts of what happened."""

    accepted: dict[str, list[str]] = field(default_factory=dict)  # order -> its line ids
    receipts: list[inv.ReceiveStock] = field(default_factory=list)
    outcomes: dict[str, int] = field(default_factory=dict)
    clock: int = 0

    def placed_at(self) -> datetime:
        self.clock += 1
        return T0 + timedelta(seconds=self.clock)


async def run(conn: asyncpg.Connection, world: World, message_type: str,
              step: Callable[[InventoryUnitOfWork], Awaitable[None]]) -> None:
    """One handler in one transaction; a rejection rolls it back, as the runtime does."""
    try:
        async with conn.transaction():
            uow = InventoryUnitOfWork(conn, SETTINGS)
            with uow.caused_by(cause(message_type)):
                await step(uow)
            for record in uow.outbox.pending:
                world.outcomes[record.message_type] = world.outcomes.get(record.message_type, 0) + 1
                if record.message_type == "StockAllocated":
                    allocated = orjson.loads(record.value)["payload"]
                    world.accepted[allocated["order_id"]] = [line["line_id"] for line in allocated["lines"]]
    except Rejection as rejection:
        world.outcomes[f"rejected:{rejection.reason}"] = world.outcomes.get(f"rejected:{rejection.reason}", 0) + 1


def handle(payload: Payload, handler: Callable[[Any, InventoryUnitOfWork], Awaitable[None]]
           ) -> tuple[str, Callable[[InventoryUnitOfWork], Awaitable[None]]]:
    return payload.message_type, lambda uow: handler(payload, uow)


def random_step(world: World, rng: random.Random) -> tuple[str, Callable[[InventoryUnitOfWork], Awaitable[None]]]:
    sku, warehouse = rng.choice(SKUS), rng.choice(WAREHOUSES)
    roll = rng.random()
    if roll < 0.14:
        if world.receipts and rng.random() < 0.15:  # a receipt delivered twice: idempotent
            return handle(rng.choice(world.receipts), handlers.receive_stock)
        receipt = inv.ReceiveStock(receipt_id=f"r-{uuid.uuid4().hex[:10]}", sku_id=sku, warehouse_id=warehouse,
                                   qty=rng.randint(1, 12))
        world.receipts.append(receipt)
        return handle(receipt, handlers.receive_stock)
    if roll < 0.20:
        return handle(inv.SetStock(sku_id=sku, warehouse_id=warehouse, on_hand=rng.randint(0, 40)), handlers.set_stock)
    if roll < 0.24:
        policy = inv.SetStockPolicy(sku_id=sku, safety_stock=rng.randint(0, 3),
                                    low_stock_threshold=rng.choice([None, 2, 5]))
        return handle(policy, handlers.set_stock_policy)
    if roll < 0.30:
        stock = [cat.WarehouseQty(warehouse_id=wh, qty=rng.randint(0, 10))
                 for wh in rng.sample(WAREHOUSES, rng.randint(1, 3))]
        return handle(cat.BackorderActivated(seller_id="s-1", listing_id="l-1", sku_id=sku, region="US",
                                             timezone="America/New_York", handling_days=5, backorder_stock=stock),
                      handlers.on_backorder_activated)
    if roll < 0.32:
        return handle(cat.BackorderDeactivated(seller_id="s-1", listing_id="l-1", sku_id=sku),
                      handlers.on_backorder_deactivated)
    if roll < 0.70:
        batch = [Message(random_order(world, rng), cause("OrderPlaced")) for _ in range(rng.randint(1, 5))]
        return "OrderPlaced", lambda uow: handlers.allocate_orders(batch, uow)
    if not world.accepted:
        return handle(inv.SetStock(sku_id=sku, warehouse_id=warehouse, on_hand=rng.randint(0, 15)), handlers.set_stock)
    order_id = rng.choice(list(world.accepted)[-20:])  # recent orders: more of them still wait for stock
    lines = world.accepted[order_id]
    chosen = rng.sample(lines, rng.randint(1, len(lines)))
    if roll < 0.84:
        return handle(o.LinesCancelled(order_id=order_id, buyer_id="b-1", reason="buyer_request", status="cancelled",
                                       lines=[o.CancelledLine(line_id=line, sku_id=sku) for line in chosen]),
                      handlers.on_lines_cancelled)
    if roll < 0.96:
        return handle(o.LinesShipped(order_id=order_id, buyer_id="b-1", line_ids=chosen, tracking_number="T-1",
                                     status="shipped"), handlers.on_lines_shipped)
    return handle(inv.PrioritizeBackorder(sku_id=sku, order_id=order_id, priority=rng.randint(1, 9)),
                  handlers.prioritize_backorder)


def random_order(world: World, rng: random.Random) -> o.OrderPlaced:
    lines = [o.OrderLine(line_id=f"l{n}", sku_id=rng.choice(SKUS), qty=rng.randint(1, 4))
             for n in range(rng.randint(1, 3))]
    placed_at = world.placed_at()
    return o.OrderPlaced(order_id=f"o-{uuid.uuid4().hex[:10]}", buyer_id="b-1", buyer_email="b@example.com",
                         region="US", placed_at=placed_at, lines=lines)


async def worker(dsn: str, world: World, rng: random.Random, steps: int) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        for _ in range(steps):
            message_type, step = random_step(world, rng)
            await run(conn, world, message_type, step)
    finally:
        await conn.close()


@pytest.mark.parametrize("seed", [7, 2026])
async def test_r12_ledger_rebuilds_levels_after_long_random_run(fresh_db: Any, seed: int) -> None:
    dsn = await fresh_db("inventory")
    world = World()
    conn = await asyncpg.connect(dsn)
    try:
        listing = cat.ListingUpserted(seller_id="s-1", listing_id="l-1", category="home", title="Lamp",
                                      sku_ids=list(SKUS))
        await run(conn, world, *handle(listing, handlers.on_listing_upserted))  # the catalog lists the SKUs first
        await asyncio.gather(*(worker(dsn, world, random.Random(seed * 10 + n), 150) for n in range(4)))

        uow = InventoryUnitOfWork(conn, SETTINGS)
        assert await uow.inventory.ledger_mismatches() == []
        assert await uow.inventory.parts_mismatches() == []
        rebuilt = {(r["sku_id"], r["warehouse_id"]): tuple(r)[2:] for r in await conn.fetch(
            """SELECT sku_id, warehouse_id, sum(on_hand), sum(allocated), sum(backorder_limit),
                      sum(backorder_allocated) FROM stock_ledger GROUP BY 1, 2""")}
        stored = {(r["sku_id"], r["warehouse_id"]): tuple(r)[2:] for r in await conn.fetch(
            "SELECT sku_id, warehouse_id, on_hand, allocated, backorder_limit, backorder_allocated FROM stock_levels")}
        assert rebuilt == stored
        # a receipt is booked once however often it arrives
        assert await conn.fetchval("SELECT count(*) FROM stock_ledger WHERE kind = 'receipt'") == len(
            {r.receipt_id for r in world.receipts})
        # free units never sit idle while backorders of the same level wait
        locked = await uow.inventory.lock(SKUS)
        for sku in SKUS:
            for level in locked.sku_levels(sku):
                assert domain.fill_budget(level, locked.sku_levels(sku), locked.policy(sku)) == 0, level
        # the run did exercise what it claims to
        assert world.outcomes.get("StockAllocated", 0) > 50
        assert world.outcomes.get("AllocationRejected", 0) > 10
        assert world.outcomes.get("BackorderReleased", 0) > 5
        kinds = {r["kind"] for r in await conn.fetch("SELECT DISTINCT kind FROM stock_ledger")}
        assert kinds >= {"receipt", "count", "allocation", "backorder_allocation", "backorder_fill",
                         "backorder_limit", "release", "backorder_release", "shipment", "backorder_shipment"}
        # the ledger refuses to be rewritten
        with pytest.raises(asyncpg.exceptions.RestrictViolationError, match="append-only"):
            await conn.execute("UPDATE stock_ledger SET on_hand = on_hand + 1")
        with pytest.raises(asyncpg.exceptions.RestrictViolationError, match="append-only"):
            await conn.execute("DELETE FROM stock_ledger")
    finally:
        await conn.close()
