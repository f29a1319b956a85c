from __future__ import annotations

from collections.abc import Callable

import asyncpg

from services.catalog.domain import Caps, HandlingPolicy
from services.catalog.repository import CatalogRepository
from services.catalog.settings import CatalogSettings
from shared.persistence.uow import Clock, UnitOfWork


class CatalogUnitOfWork(UnitOfWork):
    def __init__(self, conn: asyncpg.Connection, settings: CatalogSettings, clock: Clock) -> None:
        super().__init__(conn, producer="catalog", clock=clock)
        self.catalog = CatalogRepository(conn)
        self.caps = Caps(settings.max_backorder_listings, settings.max_backorder_skus)
        self.handling = HandlingPolicy(
            settings.handling_days_min, settings.handling_days_max, settings.fashion_handling_days_max,
            frozenset(settings.fashion_categories),
        )


def make_uow(settings: CatalogSettings, clock: Clock) -> Callable[[asyncpg.Connection], CatalogUnitOfWork]:
    return lambda conn: CatalogUnitOfWork(conn, settings, clock)
