"""R08: inventory reads a SKU's lock, its levels and the orders' decisions in one statement
(``InventoryRepository.lock_and_decided``), whose snapshot is taken before it waits for the lock.

What another transaction did under that lock while this one waited must not be missed: a level row it added is
read again after the lock (the SKU row counts its levels), and a decision it took is refused a second time by
``order_decisions``' key.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest

from services.inventory.repository import InventoryRepository
from shared.persistence.db import create_pool
from shared.persistence.staging import StagedWriteFailed

pytestmark = pytest.mark.integration

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
async def pool(fresh_db: Any) -> AsyncIterator[asyncpg.Pool]:
    db = await create_pool(await fresh_db("inventory"), min_size=3, max_size=3)
    async with db.acquire() as conn, conn.transaction():
        await InventoryRepository(conn).lock(["sku-1"], ensure_levels=[("sku-1", "wh-1")])
    yield db
    await db.close()


async def waiting_for_a_lock(pool: asyncpg.Pool) -> None:
    """Until a session of this database waits for a row lock (the event, read from the server)."""
    while not await pool.fetchval("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                  "AND wait_event_type = 'Lock'"):
        await asyncio.sleep(0.01)


async def test_r08_a_level_added_while_the_lock_was_awaited_is_read_after_the_lock(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as first, pool.acquire() as second:
        holder = first.transaction()
        await holder.start()
        await InventoryRepository(first).lock(["sku-1"], ensure_levels=[("sku-1", "wh-2")])
        async with second.transaction():
            reading = asyncio.ensure_future(InventoryRepository(second).lock_and_decided(["sku-1"], []))
            await asyncio.wait_for(waiting_for_a_lock(pool), 10)
            await holder.commit()
            stock, _ = await reading
            assert [lv.warehouse_id for lv in stock.sku_levels("sku-1")] == ["wh-1", "wh-2"]


async def test_r08_an_order_decided_while_the_lock_was_awaited_is_not_decided_a_second_time(
        pool: asyncpg.Pool) -> None:
    async with pool.acquire() as first, pool.acquire() as second:
        holder = first.transaction()
        await holder.start()
        await InventoryRepository(first).lock(["sku-1"])
        await InventoryRepository(first).record_decisions([("o-1", True, T0)])
        async with second.transaction():
            reading = asyncio.ensure_future(InventoryRepository(second).lock_and_decided(["sku-1"], ["o-1"]))
            await asyncio.wait_for(waiting_for_a_lock(pool), 10)
            await holder.commit()
            _, decided = await reading
            # the statement's snapshot predates the decision: it is not seen, and deciding again is refused
            assert decided == set()
            with pytest.raises(StagedWriteFailed) as refused:
                await InventoryRepository(second).record_decisions([("o-1", False, T0)])
            assert isinstance(refused.value.__cause__, asyncpg.UniqueViolationError)
