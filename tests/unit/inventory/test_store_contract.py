"""The unit tests' ``FakeInventory`` gives the answers of the inventory store contract, the ones the
PostgreSQL repository gives (``tests/integration/test_inventory_store_contract.py``)."""

from __future__ import annotations

from tests.unit.inventory.fakes import FakeInventory
from tests.unit.inventory.store_contract import EXPECTED, script


async def test_fake_store_keeps_the_store_contract() -> None:
    seen = await script(FakeInventory())
    for step, (expected, got) in enumerate(zip(EXPECTED, seen, strict=True)):
        assert got == expected, f"step {step}"
