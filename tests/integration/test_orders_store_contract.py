"""The PostgreSQL orders stores give the answers of the orders store contract
(``tests/unit/orders/store_contract.py``), the ones the unit tests' fakes give too."""

from __future__ import annotations

from typing import Any

import pytest

from services.orders.repository import CatalogView, OrderStore, StockView
from shared.persistence.db import create_pool
from tests.unit.orders.store_contract import EXPECTED, Stores, script

pytestmark = pytest.mark.integration


async def test_postgres_stores_keep_the_store_contract(fresh_db: Any) -> None:
    pool = await create_pool(await fresh_db("orders"), min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn, conn.transaction():
            real = await script(Stores(OrderStore(conn), CatalogView(conn), StockView(conn)))
    finally:
        await pool.close()
    for step, (expected, got) in enumerate(zip(EXPECTED, real, strict=True)):
        assert got == expected, f"step {step}"
