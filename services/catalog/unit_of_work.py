"""The catalog's unit of work: one transaction, the repository on it, the outbox, the policy."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from services.catalog.domain import Caps, HandlingPolicy
from services.catalog.ports import CatalogPolicy
from services.catalog.repository import CatalogRepository
from services.catalog.settings import CatalogSettings
from shared.clock import Clock
from shared.persistence.db import Conn
from shared.persistence.uow import UnitOfWork


def policy_from(settings: CatalogSettings) -> CatalogPolicy:
    return CatalogPolicy(
        caps=Caps(settings.max_backorder_listings, settings.max_backorder_skus),
        handling=HandlingPolicy(settings.handling_days_min, settings.handling_days_max,
                                settings.fashion_handling_days_max, frozenset(settings.fashion_categories)),
        require_principal=settings.require_principal,
    )


class CatalogUnitOfWork(UnitOfWork):
    """``ports.CatalogUow`` on PostgreSQL."""

    def __init__(self, conn: Conn, policy: CatalogPolicy, clock: Clock) -> None:
        super().__init__(conn, producer="catalog", clock=clock)
        self.catalog = CatalogRepository(self.conn)
        self.policy = policy

    def now(self) -> datetime:
        return self.clock.now()


def make_uow(settings: CatalogSettings, clock: Clock) -> Callable[[Conn], CatalogUnitOfWork]:
    policy = policy_from(settings)
    return lambda conn: CatalogUnitOfWork(conn, policy, clock)
