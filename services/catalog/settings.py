"""Catalog configuration (environment variables, e.g. ``MAX_BACKORDER_LISTINGS=30``)."""

from __future__ import annotations

from pydantic import Field, model_validator

from shared.settings import ServiceSettings


class CatalogSettings(ServiceSettings):
    max_backorder_listings: int = Field(default=30, ge=0, description="R03: listings with a backorder SKU")
    max_backorder_skus: int = Field(default=10_000, ge=0, description="R04: SKUs in backorder inventory")
    handling_days_min: int = Field(default=3, ge=1, description="R05: shortest handling time, business days")
    handling_days_max: int = Field(default=15, ge=1, description="R05: longest handling time, business days")
    fashion_handling_days_max: int = Field(default=21, ge=1, description="R05: longest for fashion categories")
    fashion_categories: set[str] = Field(
        default_factory=lambda: {"fashion"}, description='R05: category ids with the fashion range (JSON: ["a","b"])'
    )
    require_principal: bool = Field(
        default=False, description="Refuse commands without a principal (set where a gateway stamps every command)"
    )

    @model_validator(mode="after")
    def _ranges_make_sense(self) -> CatalogSettings:
        if not self.handling_days_min <= self.handling_days_max <= self.fashion_handling_days_max:
            raise ValueError("need handling_days_min <= handling_days_max <= fashion_handling_days_max")
        return self
