"""The unit tests' orders fakes give the answers of the orders store contract, the ones the PostgreSQL
stores give (``tests/integration/test_orders_store_contract.py``)."""

from __future__ import annotations

from tests.unit.orders.fakes import FakeCatalog, FakeOrders, FakeStock
from tests.unit.orders.store_contract import EXPECTED, Stores, script


async def test_fake_stores_keep_the_store_contract() -> None:
    seen = await script(Stores(FakeOrders(), FakeCatalog(), FakeStock()))
    for step, (expected, got) in enumerate(zip(EXPECTED, seen, strict=True)):
        assert got == expected, f"step {step}"
