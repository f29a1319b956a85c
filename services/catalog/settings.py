from __future__ import annotations

from pydantic import Field

from shared.settings import ServiceSettings


class CatalogSettings(ServiceSettings):
    max_backorder_listings: int = Field(default=30, ge=0, description="R03: listings with a backorder SKU")
    max_backorder_skus: int = Field(default=10_000, ge=0, description="R04: SKUs in backorder inventory")
    handling_days_min: int = 3
    handling_days_max: int = 15
    fashion_handling_days_max: int = 21
    fashion_categories: set[str] = Field(default_factory=lambda: {"fashion"})
