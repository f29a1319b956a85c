"""The PostgreSQL notifications store gives the answers of the notifications store contract
(``tests/unit/notifications/store_contract.py``), the ones the unit tests' fake gives too."""

from __future__ import annotations

from typing import Any

import pytest

from services.notifications.repository import NotificationsRepository
from tests.integration.store_contract import run_on_postgres
from tests.unit.notifications.store_contract import EXPECTED, script

pytestmark = pytest.mark.integration


async def test_postgres_store_keeps_the_store_contract(fresh_db: Any) -> None:
    real = await run_on_postgres(await fresh_db("notifications"), lambda conn: script(NotificationsRepository(conn)))
    for step, (expected, got) in enumerate(zip(EXPECTED, real, strict=True)):
        assert got == expected, f"step {step}"
