"""catalog.commands and catalog.events. Kafka key: seller_id."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from .common import Id, ListingType, Region
from .envelope import Payload

# ---------------------------------------------------------------- commands


class RegisterSeller(Payload):
    """Register a seller (or update its region and eligibility)."""

    seller_id: Id
    region: Region
    backorder_eligible: bool = Field(description="May this seller activate backorder (R02)?", examples=[True])
    timezone: str | None = Field(
        default=None, max_length=64, description="IANA zone; defaults from the region", examples=["America/New_York"]
    )


class SetSellerEligibility(Payload):
    """Grant or revoke a seller's backorder eligibility (R02)."""

    seller_id: Id
    backorder_eligible: bool


class UpsertListing(Payload):
    """Create or update a listing (a product) and its SKUs."""

    seller_id: Id
    listing_id: Id
    category: Id = Field(examples=["fashion"])
    title: str = Field(min_length=1, max_length=200, examples=["Linen shirt"])
    sku_ids: list[Id] = Field(min_length=1, max_length=500, examples=[["sku-42"]])


class WarehouseQty(Payload):
    """A quantity in one warehouse."""

    warehouse_id: Id = Field(examples=["wh-1"])
    qty: Annotated[int, Field(ge=0, le=1_000_000)] = Field(examples=[100])


class ActivateBackorder(Payload):
    """Put a SKU on backorder with a handling time and backorder stock per warehouse (R05, R06)."""

    seller_id: Id
    sku_id: Id
    handling_days: int = Field(ge=-1000, le=1000, description="Business days to ship (R05)", examples=[5])
    backorder_stock: list[WarehouseQty] = Field(min_length=1, max_length=100)


class DeactivateBackorder(Payload):
    """Turn a SKU back to regular (R06)."""

    seller_id: Id
    sku_id: Id


class SetListingType(Payload):
    """Change a SKU's listing type (R01)."""

    seller_id: Id
    sku_id: Id
    listing_type: ListingType


CATALOG_COMMANDS: tuple[type[Payload], ...] = (
    RegisterSeller,
    SetSellerEligibility,
    UpsertListing,
    ActivateBackorder,
    DeactivateBackorder,
    SetListingType,
)

# ---------------------------------------------------------------- events


class SellerRegistered(Payload):
    """A seller exists with this region, time zone and eligibility."""

    seller_id: Id
    region: Region
    timezone: str
    backorder_eligible: bool


class SellerEligibilityChanged(Payload):
    """A seller's backorder eligibility changed."""

    seller_id: Id
    backorder_eligible: bool


class ListingUpserted(Payload):
    """A listing and its SKUs as they are now."""

    seller_id: Id
    listing_id: Id
    category: Id
    title: str
    sku_ids: list[Id]


class BackorderActivated(Payload):
    """A SKU is on backorder: its handling time and backorder stock per warehouse."""

    seller_id: Id
    listing_id: Id
    sku_id: Id
    region: Region
    timezone: str
    handling_days: int = Field(examples=[5])
    backorder_stock: list[WarehouseQty]


class BackorderDeactivated(Payload):
    """A SKU is regular again; no new backorder allocation (R06)."""

    seller_id: Id
    listing_id: Id
    sku_id: Id


class ListingTypeChanged(Payload):
    """A SKU's listing type changed (R01)."""

    seller_id: Id
    sku_id: Id
    previous_type: ListingType
    listing_type: ListingType


class CommandRejected(Payload):
    """A command was refused and changed nothing."""

    command_id: str = Field(description="event_id of the rejected command")
    command_type: str = Field(max_length=100, examples=["ActivateBackorder"])
    reason: str = Field(max_length=64, description="Stable machine-readable code", examples=["not_owner"])
    message: str = Field(max_length=1000, description="A sentence for humans")


CATALOG_EVENTS: tuple[type[Payload], ...] = (
    SellerRegistered,
    SellerEligibilityChanged,
    ListingUpserted,
    BackorderActivated,
    BackorderDeactivated,
    ListingTypeChanged,
    CommandRejected,
)
