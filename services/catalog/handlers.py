"""Catalog command handlers: ``async def handler(command, uow)``.

Each one authorises the principal, takes the seller's row lock, decides with the pure
functions of ``domain`` (which raise ``Rejection``), writes through the store and emits
events; the consumer runtime owns the transaction, so a rejection changes nothing.

What each command answers on ``catalog.events``:

* state snapshots are always emitted (``SellerRegistered``, ``ListingUpserted``,
  ``BackorderActivated`` - sending the same settings again restates them);
* transitions are emitted when they happen (``SellerEligibilityChanged``,
  ``ListingTypeChanged`` on every change of a SKU's type, ``BackorderDeactivated``); a
  command asking for a transition that would change nothing is rejected with a reason that
  says so, so that every command gets an answer.
"""

from __future__ import annotations

from dataclasses import replace
from typing import cast

from services.catalog import domain
from services.catalog.domain import BACKORDER, REGULAR, Listing, Seller, Sku, WarehouseStock
from services.catalog.ports import CatalogUow
from shared.contract import catalog as c
from shared.contract.common import ListingType
from shared.contract.topics import CATALOG_EVENTS_TOPIC as EVENTS
from shared.domain import Rejection


def _authorize(uow: CatalogUow, seller_id: str, *, platform_only: bool = False) -> None:
    principal = uow.cause.principal if uow.cause else None
    domain.authorize(principal, seller_id, platform_only=platform_only,
                     require_principal=uow.policy.require_principal)


async def _locked_seller(uow: CatalogUow, seller_id: str) -> Seller:
    seller = await uow.catalog.seller(seller_id, lock=True)
    if seller is None:
        raise Rejection("unknown_seller", f"seller {seller_id} is not registered")
    return seller


async def _owned_sku(uow: CatalogUow, seller_id: str, sku_id: str) -> Sku:
    sku = await uow.catalog.sku(sku_id)
    if sku is None:
        raise Rejection("unknown_sku", f"SKU {sku_id} is not listed")
    domain.check_owner(seller_id, sku.seller_id, f"SKU {sku_id}")
    if sku.delisted:
        raise Rejection("sku_delisted", f"SKU {sku_id} was removed from its listing; list it again first")
    return sku


def _type_changed(uow: CatalogUow, sku: Sku, target: str) -> None:
    """The events of a type change that has been written (R01, R06)."""
    if sku.listing_type == target:
        return
    if sku.listing_type == BACKORDER:
        uow.emit(EVENTS, c.BackorderDeactivated(seller_id=sku.seller_id, listing_id=sku.listing_id,
                                                sku_id=sku.sku_id), key=sku.seller_id)
    uow.emit(EVENTS, c.ListingTypeChanged(seller_id=sku.seller_id, sku_id=sku.sku_id,
                                          previous_type=cast(ListingType, sku.listing_type),
                                          listing_type=cast(ListingType, target)),
             key=sku.seller_id)


# ---------------------------------------------------------------- sellers (R02)


async def register_seller(cmd: c.RegisterSeller, uow: CatalogUow) -> None:
    _authorize(uow, cmd.seller_id, platform_only=True)
    timezone = domain.timezone_for(cmd.region, cmd.timezone)
    existing = await uow.catalog.seller(cmd.seller_id, lock=True)
    if existing is None:
        seller = Seller(cmd.seller_id, cmd.region, timezone, cmd.backorder_eligible, email=cmd.email)
    else:  # an update that gives no address keeps the one given before (R32)
        seller = replace(existing, region=cmd.region, timezone=timezone,
                         email=cmd.email or existing.email).with_eligibility(cmd.backorder_eligible, uow.now())
    await uow.catalog.save_seller(seller)
    uow.emit(EVENTS, c.SellerRegistered(seller_id=seller.seller_id, region=seller.region, timezone=seller.timezone,
                                        backorder_eligible=seller.backorder_eligible, email=seller.email),
             key=seller.seller_id)
    if existing is not None and existing.backorder_eligible != seller.backorder_eligible:
        uow.emit(EVENTS, c.SellerEligibilityChanged(seller_id=seller.seller_id,
                                                    backorder_eligible=seller.backorder_eligible),
                 key=seller.seller_id)


async def set_seller_eligibility(cmd: c.SetSellerEligibility, uow: CatalogUow) -> None:
    """Grant or revoke (R02). Revoking leaves SKUs already on backorder as they are; see ``domain``."""
    _authorize(uow, cmd.seller_id, platform_only=True)
    seller = await _locked_seller(uow, cmd.seller_id)
    if seller.backorder_eligible == cmd.backorder_eligible:
        state = "eligible" if seller.backorder_eligible else "not eligible"
        raise Rejection("eligibility_unchanged", f"seller {seller.seller_id} is already {state} for backorder")
    await uow.catalog.save_seller(seller.with_eligibility(cmd.backorder_eligible, uow.now()))
    uow.emit(EVENTS, c.SellerEligibilityChanged(seller_id=cmd.seller_id, backorder_eligible=cmd.backorder_eligible),
             key=cmd.seller_id)


# ---------------------------------------------------------------- listings


async def upsert_listing(cmd: c.UpsertListing, uow: CatalogUow) -> None:
    """Create or update a listing; ``sku_ids`` is its full set (SKUs left out are delisted)."""
    _authorize(uow, cmd.seller_id)
    await _locked_seller(uow, cmd.seller_id)
    existing = await uow.catalog.listing(cmd.listing_id)
    if existing is not None:
        domain.check_owner(cmd.seller_id, existing.seller_id, f"listing {cmd.listing_id}")
    domain.check_listing_skus(cmd.seller_id, cmd.listing_id, cmd.sku_ids, await uow.catalog.skus(cmd.sku_ids))
    current = await uow.catalog.listed_skus(cmd.listing_id) if existing is not None else []
    removed = domain.removed_skus(current, cmd.sku_ids)
    wanted = set(cmd.sku_ids)
    domain.check_category_change(cmd.category, [s for s in current if s.sku_id in wanted], uow.policy.handling)

    await uow.catalog.save_listing(Listing(cmd.listing_id, cmd.seller_id, cmd.category, cmd.title))
    claimed = await uow.catalog.claim_skus(cmd.seller_id, cmd.listing_id, cmd.sku_ids)
    lost = [s for s in cmd.sku_ids if s not in claimed]
    if lost:  # claimed by a concurrent command of another seller after our check
        raise Rejection("not_owner", f"SKU {lost[0]} belongs to another seller")
    await uow.catalog.delist_skus([s.sku_id for s in removed])
    for sku in removed:
        _type_changed(uow, sku, REGULAR)
    uow.emit(EVENTS, c.ListingUpserted(seller_id=cmd.seller_id, listing_id=cmd.listing_id, category=cmd.category,
                                       title=cmd.title, sku_ids=list(cmd.sku_ids),
                                       removed_sku_ids=[s.sku_id for s in removed]), key=cmd.seller_id)


# ---------------------------------------------------------------- backorder (R02-R06)


async def activate_backorder(cmd: c.ActivateBackorder, uow: CatalogUow) -> None:
    """Put a SKU on backorder, or change an active SKU's settings (same effect if sent twice)."""
    _authorize(uow, cmd.seller_id)
    seller = await _locked_seller(uow, cmd.seller_id)  # serialises the cap check and the write per seller
    sku = await _owned_sku(uow, cmd.seller_id, cmd.sku_id)
    domain.check_eligible(seller)
    domain.check_transition(sku.listing_type, BACKORDER)
    listing = await uow.catalog.listing(sku.listing_id)
    if listing is None:  # the foreign key makes this impossible
        raise RuntimeError(f"SKU {sku.sku_id} has no listing {sku.listing_id}")
    domain.check_handling_days(cmd.handling_days, listing.category, uow.policy.handling)
    stock = [WarehouseStock(w.warehouse_id, w.qty) for w in cmd.backorder_stock]
    domain.check_backorder_stock(stock)
    if sku.listing_type != BACKORDER:
        domain.check_caps(await uow.catalog.backorder_usage(seller.seller_id), uow.policy.caps,
                          sku_on_backorder=False,
                          listing_on_backorder=await uow.catalog.listing_on_backorder(listing.listing_id))

    await uow.catalog.set_backorder(sku.sku_id, cmd.handling_days, stock)
    uow.emit(EVENTS, c.BackorderActivated(
        seller_id=seller.seller_id, listing_id=listing.listing_id, sku_id=sku.sku_id, region=seller.region,
        timezone=seller.timezone, handling_days=cmd.handling_days, backorder_stock=list(cmd.backorder_stock),
    ), key=seller.seller_id)
    _type_changed(uow, sku, BACKORDER)


async def deactivate_backorder(cmd: c.DeactivateBackorder, uow: CatalogUow) -> None:
    """Back to regular (R06); allowed even after eligibility was revoked."""
    _authorize(uow, cmd.seller_id)
    await _locked_seller(uow, cmd.seller_id)
    sku = await _owned_sku(uow, cmd.seller_id, cmd.sku_id)
    domain.check_deactivation(sku)
    await uow.catalog.set_listing_type(sku.sku_id, REGULAR)
    _type_changed(uow, sku, REGULAR)


async def set_listing_type(cmd: c.SetListingType, uow: CatalogUow) -> None:
    """R01: any change through regular; into backorder only with ``ActivateBackorder``."""
    _authorize(uow, cmd.seller_id)
    await _locked_seller(uow, cmd.seller_id)
    sku = await _owned_sku(uow, cmd.seller_id, cmd.sku_id)
    domain.check_set_listing_type(sku, cmd.listing_type)
    await uow.catalog.set_listing_type(sku.sku_id, cmd.listing_type)
    _type_changed(uow, sku, cmd.listing_type)


# ---------------------------------------------------------------- R30: the seller's auto-cancel policy


async def set_auto_cancel_policy(cmd: c.SetAutoCancelPolicy, uow: CatalogUow) -> None:
    """Validated and announced here; orders applies it. Days late must make sense: 1 to 90."""
    _authorize(uow, cmd.seller_id)
    await _locked_seller(uow, cmd.seller_id)
    if cmd.max_days_late is not None and not 1 <= cmd.max_days_late <= 90:
        raise Rejection("invalid_auto_cancel_policy",
                        f"max_days_late is between 1 and 90 days (or null), not {cmd.max_days_late}")
    uow.emit(EVENTS, c.AutoCancelPolicySet(seller_id=cmd.seller_id, max_days_late=cmd.max_days_late,
                                           cancel_at_second_slip=cmd.cancel_at_second_slip), key=cmd.seller_id)
