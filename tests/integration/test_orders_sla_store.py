"""R15 at the database: the SLA clock's claim fires each due line once, whatever runs beside it.

These drive ``OrderStore.fire_due`` on real PostgreSQL with transactions held open on purpose,
so the races the two-instance test can only hope to hit happen every time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from services.orders import domain
from services.orders.domain import SkuTerms
from services.orders.lines import AllocatedQty
from services.orders.repository import OrderStore, StockView
from shared.dates import DatingPolicy
from shared.persistence.db import create_pool

pytestmark = pytest.mark.integration

PLACED = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)  # Monday 09:00 New York
DUE = datetime(2026, 11, 28, 5, 0, tzinfo=UTC)  # 3 business days -> ship by Fri Nov 27 -> this instant


def _terms(sku_id: str) -> SkuTerms:
    return SkuTerms("s1", "US", "America/New_York", handling_days=3, listing_type="backorder")


@pytest.fixture
async def pool(fresh_db: Callable[[str], Awaitable[str]]) -> AsyncIterator[asyncpg.Pool]:
    created = await create_pool(await fresh_db("orders"), min_size=1, max_size=6)
    try:
        yield created
    finally:
        await created.close()


async def _orders(pool: asyncpg.Pool, count: int, lines: int = 1) -> None:
    async with pool.acquire() as conn, conn.transaction():
        store = OrderStore(conn)
        for n in range(count):
            order = domain.place(order_id=f"o-{n:03}", buyer_id="b", buyer_email="b@example.com", region="US",
                                 locale="en_US", timezone=None, placed_at=PLACED,
                                 lines=[(f"l{i}", "sku-3d", 1) for i in range(lines)], sellers={})
            await store.add(order, None)
            order.accept({f"l{i}": [AllocatedQty("wh-1", "backorder", 1)] for i in range(lines)}, _terms,
                         DatingPolicy(), PLACED)
            await store.save(order)


async def _count(pool: asyncpg.Pool, sql: str) -> int:
    async with pool.acquire() as conn:
        return int(await conn.fetchval(sql))


async def test_r15_nothing_fires_before_the_deadline_and_everything_due_fires_at_it(pool: asyncpg.Pool) -> None:
    await _orders(pool, 3)
    async with pool.acquire() as conn, conn.transaction():
        assert await OrderStore(conn).fire_due(DUE - timedelta(microseconds=1), 100) == []
        late = await OrderStore(conn).fire_due(DUE, 100)
    assert [(x.order_id, x.line_id, str(x.ship_by)) for x in late] == [
        ("o-000", "l0", "2026-11-27"), ("o-001", "l0", "2026-11-27"), ("o-002", "l0", "2026-11-27")]
    async with pool.acquire() as conn:
        assert await OrderStore(conn).fire_due(DUE + timedelta(days=30), 100) == []
        assert await OrderStore(conn).next_due() is None


async def test_r15_two_concurrent_claims_split_the_due_lines_without_overlap(pool: asyncpg.Pool) -> None:
    await _orders(pool, 10, lines=2)
    a, b = await pool.acquire(), await pool.acquire()
    try:
        tx_a, tx_b = a.transaction(), b.transaction()
        await tx_a.start()
        await tx_b.start()
        first = await OrderStore(a).fire_due(DUE, 7)  # held, not committed
        second = await OrderStore(b).fire_due(DUE, 100)  # skips what the first holds
        await tx_a.commit()
        await tx_b.commit()
    finally:
        await pool.release(a)
        await pool.release(b)
    claimed = [(x.order_id, x.line_id) for x in first + second]
    assert (len(first), len(second)) == (7, 13)
    assert len(set(claimed)) == 20
    async with pool.acquire() as conn:
        assert await OrderStore(conn).fire_due(DUE, 100) == []
    assert await _count(pool, "SELECT count(*) FROM late_shipments") == 20


async def test_r15_a_claim_rolled_back_by_a_crash_fires_again(pool: asyncpg.Pool) -> None:
    await _orders(pool, 2)
    async with pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        assert len(await OrderStore(conn).fire_due(DUE, 100)) == 2
        await tx.rollback()  # the instance died before committing
    async with pool.acquire() as conn, conn.transaction():
        assert len(await OrderStore(conn).fire_due(DUE, 100)) == 2
    assert await _count(pool, "SELECT count(*) FROM late_shipments") == 2


async def test_r15_a_line_a_handler_is_shipping_is_skipped_then_never_fires(pool: asyncpg.Pool) -> None:
    await _orders(pool, 2)
    handler = await pool.acquire()
    try:
        tx = handler.transaction()
        await tx.start()
        order = await OrderStore(handler).get("o-000", lock=True)  # as a ShipLines handler does
        assert order is not None
        order.release("l0", "wh-1", 1)
        async with pool.acquire() as clock, clock.transaction():
            late = await OrderStore(clock).fire_due(DUE, 100)
        assert [x.order_id for x in late] == ["o-001"]  # o-000 is locked: skipped, not waited for
        order.ship(["l0"], "T1", DUE, None)
        await OrderStore(handler).save(order)
        await tx.commit()
    finally:
        await pool.release(handler)
    async with pool.acquire() as conn:
        assert await OrderStore(conn).fire_due(DUE + timedelta(days=1), 100) == []  # shipped: never late


async def test_r18_stock_levels_keep_the_newest_whatever_the_arrival_order(pool: asyncpg.Pool) -> None:
    t0 = datetime(2026, 11, 23, tzinfo=UTC)
    async with pool.acquire() as conn:
        stock = StockView(conn)
        await stock.levels([("sku-1", "wh-1", 0, t0 + timedelta(seconds=2))])
        await stock.levels([("sku-1", "wh-1", 5, t0 + timedelta(seconds=1))])  # older, arrives later
        assert (await stock.status("sku-1")).out_of_stock
        await stock.exhausted(["sku-2"], t0)
        await stock.levels([("sku-2", "wh-1", 3, t0 + timedelta(seconds=1)), ("sku-2", "*", 3, t0)])
        status = await stock.status("sku-2")
        assert status.available_to_promise == 3 and not status.out_of_stock
        await stock.exhausted(["sku-2"], t0 + timedelta(seconds=5))
        assert (await stock.status("sku-2")).out_of_stock
