"""The PostgreSQL orders stores give the answers of the orders store contract
(``tests/unit/orders/store_contract.py``), the ones the unit tests' fakes give too."""

from __future__ import annotations

from typing import Any

import pytest

from services.orders.repository import CatalogView, OrderStore, StockView
from tests.integration.store_contract import run_on_postgres
from tests.unit.orders.store_contract import EXPECTED, Stores, script

pytestmark = pytest.mark.integration


async def test_postgres_stores_keep_the_store_contract(fresh_db: Any) -> None:
    real = await run_on_postgres(await fresh_db("orders"),
                                 lambda conn: script(Stores(OrderStore(conn), CatalogView(conn), StockView(conn))))
    for step, (expected, got) in enumerate(zip(EXPECTED, real, strict=True)):
        assert got == expected, f"step {step}"
