"""The PostgreSQL ``InventoryRepository`` gives the answers of the inventory store contract
(``tests/unit/inventory/store_contract.py``), the ones the unit tests' ``FakeInventory`` gives too."""

from __future__ import annotations

from typing import Any

import pytest

from services.inventory.repository import InventoryRepository
from shared.persistence.db import create_pool
from tests.unit.inventory.store_contract import EXPECTED, script

pytestmark = pytest.mark.integration


async def test_postgres_repository_keeps_the_store_contract(fresh_db: Any) -> None:
    pool = await create_pool(await fresh_db("inventory"), min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn, conn.transaction():
            real = await script(InventoryRepository(conn))
    finally:
        await pool.close()
    for step, (expected, got) in enumerate(zip(EXPECTED, real, strict=True)):
        assert got == expected, f"step {step}"
