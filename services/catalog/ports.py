"""What the handlers need from the outside world, as protocols.

``repository.CatalogRepository`` (PostgreSQL) and the unit tests' in-memory fake implement
the same ``CatalogStore``; ``unit_of_work.CatalogUnitOfWork`` and the tests' fake implement
``CatalogUow``. Handlers are typed against these, never against asyncpg.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from services.catalog.domain import BackorderUsage, Caps, HandlingPolicy, Listing, Seller, Sku, WarehouseStock
from shared.cause import Cause
from shared.contract.envelope import Payload
from shared.contract.topics import Topic


class CatalogStore(Protocol):
    """The catalog's state. Every write for a seller happens after ``seller(..., lock=True)`` in the
    same transaction: that row lock serialises a seller's commands across all instances, which is
    what keeps the caps (R03, R04) exact under concurrency."""

    async def seller(self, seller_id: str, *, lock: bool = False) -> Seller | None: ...

    async def save_seller(self, seller: Seller) -> None: ...

    async def listing(self, listing_id: str) -> Listing | None: ...

    async def save_listing(self, listing: Listing) -> None: ...

    async def listed_skus(self, listing_id: str) -> list[Sku]:
        """The listing's SKUs that are not delisted."""
        ...

    async def sku(self, sku_id: str) -> Sku | None: ...

    async def skus(self, sku_ids: Sequence[str]) -> dict[str, Sku]: ...

    async def claim_skus(self, seller_id: str, listing_id: str, sku_ids: Sequence[str]) -> set[str]:
        """Put ``sku_ids`` in the listing: new ones as regular, delisted ones of this seller listed again.
        Returns the ids that are now in the listing; an id missing from it belongs elsewhere."""
        ...

    async def delist_skus(self, sku_ids: Sequence[str]) -> None:
        """Mark SKUs delisted and regular, without backorder settings."""
        ...

    async def backorder_usage(self, seller_id: str) -> BackorderUsage: ...

    async def listing_on_backorder(self, listing_id: str) -> bool: ...

    async def set_backorder(self, sku_id: str, handling_days: int, stock: Sequence[WarehouseStock]) -> None: ...

    async def set_listing_type(self, sku_id: str, listing_type: str) -> None:
        """Any type but backorder; clears the backorder settings."""
        ...


@dataclass(frozen=True)
class CatalogPolicy:
    """The configurable rules (from ``CatalogSettings``)."""

    caps: Caps = field(default_factory=Caps)
    handling: HandlingPolicy = field(default_factory=HandlingPolicy)
    require_principal: bool = False


class CatalogUow(Protocol):
    catalog: CatalogStore
    policy: CatalogPolicy

    @property
    def cause(self) -> Cause | None: ...

    def now(self) -> datetime: ...

    def emit(self, topic: Topic | str, payload: Payload, *, key: str | None) -> Any: ...
