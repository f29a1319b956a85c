"""The unit tests' ``FakeNotifications`` gives the answers of the notifications store contract, the ones the
PostgreSQL repository gives (``tests/integration/test_notifications_store_contract.py``)."""

from __future__ import annotations

from tests.unit.notifications.fakes import FakeNotifications
from tests.unit.notifications.store_contract import EXPECTED, script


async def test_fake_store_keeps_the_store_contract() -> None:
    seen = await script(FakeNotifications())
    for step, (expected, got) in enumerate(zip(EXPECTED, seen, strict=True)):
        assert got == expected, f"step {step}"
