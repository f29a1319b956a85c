from __future__ import annotations

from collections.abc import Callable

from services.inventory.repository import InventoryRepository
from services.inventory.settings import InventorySettings
from shared.clock import Clock
from shared.persistence.db import Conn
from shared.persistence.uow import UnitOfWork


class InventoryUnitOfWork(UnitOfWork):
    """``ports.InventoryUow`` on PostgreSQL."""

    def __init__(self, conn: Conn, settings: InventorySettings, clock: Clock | None = None) -> None:
        super().__init__(conn, producer="inventory", clock=clock)
        self.inventory = InventoryRepository(self.conn, settings.warehouse_priority)
        self.dating = settings.dating_policy()


def make_uow(settings: InventorySettings, clock: Clock) -> Callable[[Conn], InventoryUnitOfWork]:
    return lambda conn: InventoryUnitOfWork(conn, settings, clock)
