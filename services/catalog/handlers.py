"""Catalog command handlers: ``async def handler(command, uow)``. They decide with the
domain functions, write through the repository and emit events; the runtime commits."""

from __future__ import annotations

from services.catalog import domain
from services.catalog.domain import Listing, Seller, Sku
from services.catalog.unit_of_work import CatalogUnitOfWork
from shared.contract import catalog as c
from shared.contract.topics import CATALOG_EVENTS_TOPIC as EVENTS
from shared.domain import Rejection


def _check_principal(uow: CatalogUnitOfWork, seller_id: str) -> None:
    """A seller principal may only act for itself (R06a); operators and services act for anyone."""
    principal = uow.cause.principal if uow.cause else None
    if principal is not None and principal.kind == "seller":
        domain.check_owner(principal.id, seller_id, f"seller {seller_id}")


async def _seller(uow: CatalogUnitOfWork, seller_id: str, *, lock: bool = False) -> Seller:
    seller = await uow.catalog.seller(seller_id, lock=lock)
    if seller is None:
        raise Rejection("unknown_seller", f"seller {seller_id} is not registered")
    return seller


async def _owned_sku(uow: CatalogUnitOfWork, seller_id: str, sku_id: str) -> Sku:
    sku = await uow.catalog.sku(sku_id)
    if sku is None:
        raise Rejection("unknown_sku", f"SKU {sku_id} is not listed")
    domain.check_owner(seller_id, sku.seller_id, f"SKU {sku_id}")
    return sku


async def register_seller(cmd: c.RegisterSeller, uow: CatalogUnitOfWork) -> None:
    _check_principal(uow, cmd.seller_id)
    seller = Seller(cmd.seller_id, cmd.region, domain.timezone_for(cmd.region, cmd.timezone), cmd.backorder_eligible)
    await uow.catalog.save_seller(seller)
    uow.emit(EVENTS, c.SellerRegistered(seller_id=seller.seller_id, region=seller.region,
                                        timezone=seller.timezone, backorder_eligible=seller.backorder_eligible),
             key=seller.seller_id)


async def set_seller_eligibility(cmd: c.SetSellerEligibility, uow: CatalogUnitOfWork) -> None:
    await _seller(uow, cmd.seller_id, lock=True)
    await uow.catalog.set_eligibility(cmd.seller_id, cmd.backorder_eligible)
    uow.emit(EVENTS, c.SellerEligibilityChanged(seller_id=cmd.seller_id, backorder_eligible=cmd.backorder_eligible),
             key=cmd.seller_id)


async def upsert_listing(cmd: c.UpsertListing, uow: CatalogUnitOfWork) -> None:
    _check_principal(uow, cmd.seller_id)
    await _seller(uow, cmd.seller_id)
    existing = await uow.catalog.listing(cmd.listing_id)
    if existing is not None:
        domain.check_owner(cmd.seller_id, existing.seller_id, f"listing {cmd.listing_id}")
    if len(set(cmd.sku_ids)) != len(cmd.sku_ids):
        raise Rejection("duplicate_sku", "a listing names the same SKU twice")
    for sku in (await uow.catalog.skus(list(cmd.sku_ids))).values():
        domain.check_owner(cmd.seller_id, sku.seller_id, f"SKU {sku.sku_id}")
        if sku.listing_id != cmd.listing_id:
            raise Rejection("sku_in_other_listing", f"SKU {sku.sku_id} belongs to listing {sku.listing_id}")
    await uow.catalog.save_listing(Listing(cmd.listing_id, cmd.seller_id, cmd.category, cmd.title), list(cmd.sku_ids))
    uow.emit(EVENTS, c.ListingUpserted(seller_id=cmd.seller_id, listing_id=cmd.listing_id, category=cmd.category,
                                       title=cmd.title, sku_ids=list(cmd.sku_ids)), key=cmd.seller_id)


async def activate_backorder(cmd: c.ActivateBackorder, uow: CatalogUnitOfWork) -> None:
    _check_principal(uow, cmd.seller_id)
    seller = await _seller(uow, cmd.seller_id, lock=True)  # serialises cap checks per seller
    sku = await _owned_sku(uow, cmd.seller_id, cmd.sku_id)
    listing = await uow.catalog.listing(sku.listing_id)
    assert listing is not None
    domain.check_eligible(seller)
    domain.check_transition(sku.listing_type, "backorder")
    domain.check_handling_days(cmd.handling_days, listing.category, uow.handling)
    if len({w.warehouse_id for w in cmd.backorder_stock}) != len(cmd.backorder_stock):
        raise Rejection("duplicate_warehouse", "backorder stock names a warehouse twice")
    if sku.listing_type != "backorder":
        domain.check_caps(await uow.catalog.backorder_usage(seller.seller_id, sku.sku_id), listing.listing_id,
                          uow.caps)
    stock = [w.model_dump() for w in cmd.backorder_stock]
    await uow.catalog.set_backorder(sku.sku_id, cmd.handling_days, stock)
    uow.emit(EVENTS, c.BackorderActivated(
        seller_id=seller.seller_id, listing_id=listing.listing_id, sku_id=sku.sku_id, region=seller.region,
        timezone=seller.timezone, handling_days=cmd.handling_days, backorder_stock=list(cmd.backorder_stock),
    ), key=seller.seller_id)


async def deactivate_backorder(cmd: c.DeactivateBackorder, uow: CatalogUnitOfWork) -> None:
    _check_principal(uow, cmd.seller_id)
    await _seller(uow, cmd.seller_id, lock=True)
    sku = await _owned_sku(uow, cmd.seller_id, cmd.sku_id)
    if sku.listing_type != "backorder":
        raise Rejection("not_on_backorder", f"SKU {sku.sku_id} is {sku.listing_type}, not backorder")
    await uow.catalog.set_listing_type(sku.sku_id, "regular")
    uow.emit(EVENTS, c.BackorderDeactivated(seller_id=cmd.seller_id, listing_id=sku.listing_id, sku_id=sku.sku_id),
             key=cmd.seller_id)


async def set_listing_type(cmd: c.SetListingType, uow: CatalogUnitOfWork) -> None:
    _check_principal(uow, cmd.seller_id)
    await _seller(uow, cmd.seller_id, lock=True)
    sku = await _owned_sku(uow, cmd.seller_id, cmd.sku_id)
    if cmd.listing_type == "backorder":
        raise Rejection("use_activate_backorder", "put a SKU on backorder with ActivateBackorder")
    domain.check_transition(sku.listing_type, cmd.listing_type)
    if sku.listing_type == cmd.listing_type:
        return
    await uow.catalog.set_listing_type(sku.sku_id, cmd.listing_type)
    if sku.listing_type == "backorder":
        uow.emit(EVENTS, c.BackorderDeactivated(seller_id=cmd.seller_id, listing_id=sku.listing_id,
                                                sku_id=sku.sku_id), key=cmd.seller_id)
    uow.emit(EVENTS, c.ListingTypeChanged(seller_id=cmd.seller_id, sku_id=sku.sku_id,
                                          previous_type=sku.listing_type, listing_type=cmd.listing_type),  # type: ignore[arg-type]
             key=cmd.seller_id)
