"""catalog.commands and catalog.events. Kafka key: seller_id.

Every command is answered on ``catalog.events``: by the events below that state what
changed, or by one ``CommandRejected`` that says why nothing changed. Both carry the
command's ``event_id`` as their ``causation_id``.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import ConfigDict, Field, JsonValue

from .common import Email, Id, ListingType, Region
from .envelope import Payload
from .rejections import CommandRejected

SellerId = Annotated[Id, Field(description="The seller (the Kafka key of every catalog message)",
                               examples=["seller-1"])]
ListingId = Annotated[Id, Field(description="A listing (a product); it holds one or more SKUs",
                                examples=["listing-7"])]
SkuId = Annotated[Id, Field(description="A SKU (a variant of a listing); ids are global", examples=["sku-42"])]
Timezone = Annotated[str, Field(max_length=64, description="IANA time zone", examples=["America/New_York"])]


def _example(**payload: JsonValue) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": [payload]})


# ---------------------------------------------------------------- commands


class RegisterSeller(Payload):
    """Register a seller, or update its region, time zone and eligibility (R02).

    Onboarding is a platform decision: an operator or a platform service sends it, never a
    seller principal."""

    model_config = _example(seller_id="seller-1", region="US", backorder_eligible=True, timezone="America/New_York")

    seller_id: SellerId
    region: Region
    backorder_eligible: bool = Field(description="May this seller activate backorder (R02)?", examples=[True])
    timezone: Timezone | None = Field(default=None, description="IANA zone; defaults from the region")
    email: Email | None = Field(default=None, description="Where the seller's stock alerts are emailed (R32); "
                                                          "not given: the address given before stays",
                                examples=["seller-1@example.com"])


class SetSellerEligibility(Payload):
    """Grant or revoke a seller's backorder eligibility (R02); operators and platform services only.

    Revoking stops new activations (and changes to active ones); SKUs already on backorder keep
    selling until they are deactivated."""

    model_config = _example(seller_id="seller-1", backorder_eligible=False)

    seller_id: SellerId
    backorder_eligible: bool = Field(description="The new eligibility", examples=[False])


class SetAutoCancelPolicy(Payload):
    """R30: a seller's auto-cancel policy for backordered lines whose inbound slipped; off by default.

    ``max_days_late``: cancel a line once its projected date passes the promise by more than this many days
    (1-90; null: never by days). ``cancel_at_second_slip``: cancel a line at its second slip. Both unset: off."""

    model_config = _example(seller_id="seller-1", max_days_late=7, cancel_at_second_slip=True)

    seller_id: SellerId
    max_days_late: int | None = Field(default=None, description="Days late beyond which a line is cancelled",
                                      examples=[7])
    cancel_at_second_slip: bool = Field(default=False, description="Cancel a line at its second slip",
                                        examples=[True])


class UpsertListing(Payload):
    """Create or update a listing (a product) and its SKUs.

    ``sku_ids`` is the listing's full set of SKUs: new ids are added as ``regular``, SKUs left
    out are delisted (a delisted backorder SKU is deactivated first)."""

    model_config = _example(seller_id="seller-1", listing_id="listing-7", category="fashion", title="Linen shirt",
                            sku_ids=["sku-42", "sku-43"])

    seller_id: SellerId
    listing_id: ListingId
    category: Id = Field(description="Category id; some categories allow longer handling times (R05)",
                         examples=["fashion"])
    title: str = Field(min_length=1, max_length=200, examples=["Linen shirt"])
    sku_ids: list[SkuId] = Field(min_length=1, max_length=500, description="Every SKU of the listing",
                                 examples=[["sku-42", "sku-43"]])


class WarehouseQty(Payload):
    """A quantity in one warehouse."""

    model_config = _example(warehouse_id="wh-1", qty=100)

    warehouse_id: Id = Field(description="The warehouse", examples=["wh-1"])
    qty: Annotated[int, Field(ge=0, le=1_000_000)] = Field(description="Units", examples=[100])


class ActivateBackorder(Payload):
    """Put a SKU on backorder with a handling time and backorder stock per warehouse (R05, R06).

    Works for new and existing listings. Sent again for a SKU already on backorder, it replaces
    the handling time and the stock per warehouse (a warehouse left out goes to zero)."""

    model_config = _example(seller_id="seller-1", sku_id="sku-42", handling_days=5,
                            backorder_stock=[{"warehouse_id": "wh-1", "qty": 100}])

    seller_id: SellerId
    sku_id: SkuId
    handling_days: int = Field(ge=-1000, le=1000, description="Business days to ship (R05: 3-15, fashion 3-21)",
                               examples=[5])
    backorder_stock: list[WarehouseQty] = Field(min_length=1, max_length=100,
                                                description="Backorder units per warehouse, each warehouse once",
                                                examples=[[{"warehouse_id": "wh-1", "qty": 100}]])


class DeactivateBackorder(Payload):
    """Turn a SKU back to regular (R06): no new backorder allocation; accepted orders keep their dates."""

    model_config = _example(seller_id="seller-1", sku_id="sku-42")

    seller_id: SellerId
    sku_id: SkuId


class SetListingType(Payload):
    """Change a SKU's listing type (R01). Every change goes through ``regular``; to put a SKU on
    backorder use ``ActivateBackorder``."""

    model_config = _example(seller_id="seller-1", sku_id="sku-42", listing_type="pre_order")

    seller_id: SellerId
    sku_id: SkuId
    listing_type: ListingType = Field(description="The new listing type", examples=["pre_order"])


CATALOG_COMMANDS: tuple[type[Payload], ...] = (
    RegisterSeller,
    SetSellerEligibility,
    UpsertListing,
    ActivateBackorder,
    DeactivateBackorder,
    SetListingType,
    SetAutoCancelPolicy,
)

# ---------------------------------------------------------------- events


class SellerRegistered(Payload):
    """A seller exists with this region, time zone and eligibility."""

    model_config = _example(seller_id="seller-1", region="US", timezone="America/New_York", backorder_eligible=True)

    seller_id: SellerId
    region: Region
    timezone: Timezone
    backorder_eligible: bool = Field(description="May this seller activate backorder (R02)?", examples=[True])
    email: Email | None = Field(default=None, description="Where the seller's stock alerts are emailed (R32); "
                                                          "null when none was given",
                                examples=["seller-1@example.com"])


class SellerEligibilityChanged(Payload):
    """A seller's backorder eligibility changed (R02)."""

    model_config = _example(seller_id="seller-1", backorder_eligible=False)

    seller_id: SellerId
    backorder_eligible: bool = Field(description="The eligibility now", examples=[False])


class AutoCancelPolicySet(Payload):
    """A seller's auto-cancel policy is now this (R30); orders applies it to lines that slip."""

    model_config = _example(seller_id="seller-1", max_days_late=7, cancel_at_second_slip=True)

    seller_id: SellerId
    max_days_late: int | None = Field(default=None, description="null: never by days", examples=[7])
    cancel_at_second_slip: bool = Field(default=False, examples=[True])


class ListingUpserted(Payload):
    """A listing and its SKUs as they are now."""

    model_config = _example(seller_id="seller-1", listing_id="listing-7", category="fashion", title="Linen shirt",
                            sku_ids=["sku-42", "sku-43"], removed_sku_ids=["sku-41"])

    seller_id: SellerId
    listing_id: ListingId
    category: Id = Field(description="Category id", examples=["fashion"])
    title: str = Field(description="The listing's title", examples=["Linen shirt"])
    sku_ids: list[SkuId] = Field(description="Every SKU the listing holds now", examples=[["sku-42", "sku-43"]])
    removed_sku_ids: list[SkuId] = Field(
        default_factory=list, description="SKUs this update delisted (added in contract version 1, optional)",
        examples=[["sku-41"]],
    )


class BackorderActivated(Payload):
    """A SKU is on backorder: its handling time and backorder stock per warehouse (R06).

    Also emitted when an active SKU's settings change; the stock list is complete (a warehouse
    not in it has no backorder stock)."""

    model_config = _example(seller_id="seller-1", listing_id="listing-7", sku_id="sku-42", region="US",
                            timezone="America/New_York", handling_days=5,
                            backorder_stock=[{"warehouse_id": "wh-1", "qty": 100}])

    seller_id: SellerId
    listing_id: ListingId
    sku_id: SkuId
    region: Region
    timezone: Timezone
    handling_days: int = Field(description="Business days to ship", examples=[5])
    backorder_stock: list[WarehouseQty] = Field(description="Backorder units per warehouse",
                                                examples=[[{"warehouse_id": "wh-1", "qty": 100}]])


class BackorderDeactivated(Payload):
    """A SKU is regular again; no new backorder allocation, accepted orders keep their dates (R06)."""

    model_config = _example(seller_id="seller-1", listing_id="listing-7", sku_id="sku-42")

    seller_id: SellerId
    listing_id: ListingId
    sku_id: SkuId


class ListingTypeChanged(Payload):
    """A SKU's listing type changed (R01)."""

    model_config = _example(seller_id="seller-1", sku_id="sku-42", previous_type="regular", listing_type="pre_order")

    seller_id: SellerId
    sku_id: SkuId
    previous_type: ListingType = Field(description="The type before", examples=["regular"])
    listing_type: ListingType = Field(description="The type now", examples=["pre_order"])


CATALOG_EVENTS: tuple[type[Payload], ...] = (
    SellerRegistered,
    SellerEligibilityChanged,
    ListingUpserted,
    BackorderActivated,
    BackorderDeactivated,
    ListingTypeChanged,
    AutoCancelPolicySet,
    CommandRejected,
)
