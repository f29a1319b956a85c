"""The PostgreSQL ``InventoryRepository`` gives the answers of the inventory store contract
(``tests/unit/inventory/store_contract.py``), the ones the unit tests' ``FakeInventory`` gives too."""

from __future__ import annotations

from typing import Any

import pytest

from services.inventory.repository import InventoryRepository
from tests.integration.store_contract import run_on_postgres
from tests.unit.inventory.store_contract import EXPECTED, script

pytestmark = pytest.mark.integration


async def test_postgres_repository_keeps_the_store_contract(fresh_db: Any) -> None:
    real = await run_on_postgres(await fresh_db("inventory"), lambda conn: script(InventoryRepository(conn)))
    for step, (expected, got) in enumerate(zip(EXPECTED, real, strict=True)):
        assert got == expected, f"step {step}"
