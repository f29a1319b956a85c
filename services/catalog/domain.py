"""Catalog rules R01-R06a. Pure: no I/O; functions decide or raise ``Rejection``.

Decisions documented here (the handlers only sequence them):

* **Listing types (R01)** are a state machine: every change goes through ``regular``.
* **Eligibility revocation (R02).** Revoking a seller's eligibility stops every *new*
  backorder promise: no SKU can be activated, and no active SKU can have its stock or handling
  time changed (that would be a new promise too). SKUs already on backorder keep selling with
  the settings they have until they are deactivated, which is always allowed: buyers who were
  shown a backorder date keep it, and inventory keeps allocating what the seller committed
  to. The rejection says that eligibility was revoked, not just that it is missing.
* **Caps (R03, R04)** count only *growth*: a change that does not add a listing or a SKU to the
  seller's backorder set (re-activating a SKU to change its settings, a second SKU of a listing
  already on backorder for R03) is never refused by that cap, even if the caps were lowered
  below the seller's current usage.
* **Delisting.** ``UpsertListing`` names a listing's full set of SKUs. A SKU left out is
  delisted: it stays owned by its seller (SKU ids are never handed to another seller), it
  becomes ``regular`` (a backorder SKU is deactivated, so it stops counting against the caps),
  and it can be listed again later, in this or another listing of the same seller.
* **Authorisation (R06a).** A seller principal may act only for itself; operators and platform
  services may act for any seller; buyers may not change the catalog. Onboarding and
  eligibility are platform decisions, never a seller's. A command without a principal comes
  from inside the platform (the CLI, the demo, another service); set ``REQUIRE_PRINCIPAL`` where
  a gateway stamps every command, and such commands are refused.
"""

from __future__ import annotations

import functools
import zoneinfo
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Final

from shared.domain import Actor, Rejection
from shared.regions import region_zone_name

REGULAR: Final = "regular"
BACKORDER: Final = "backorder"
PRE_ORDER: Final = "pre_order"
MADE_TO_ORDER: Final = "made_to_order"
LISTING_TYPES: tuple[str, ...] = (REGULAR, BACKORDER, PRE_ORDER, MADE_TO_ORDER)

#: R01: every change goes through ``regular``; pre_order/made_to_order <-> backorder is refused.
ALLOWED_TRANSITIONS: frozenset[tuple[str, str]] = frozenset(
    {(a, REGULAR) for a in LISTING_TYPES if a != REGULAR} | {(REGULAR, b) for b in LISTING_TYPES if b != REGULAR}
)

#: principal kinds that may act for any seller
PLATFORM_KINDS: frozenset[str] = frozenset({"operator", "service"})



@dataclass(frozen=True)
class Seller:
    seller_id: str
    region: str
    timezone: str
    backorder_eligible: bool
    #: when eligibility was last revoked; None while eligible or if it was never granted
    revoked_at: datetime | None = None
    #: where the seller's stock alerts are emailed (R32); None: not given
    email: str | None = None

    def with_eligibility(self, eligible: bool, now: datetime) -> Seller:
        """The seller after a grant or revocation; a revocation is remembered (R02)."""
        if eligible:
            return replace(self, backorder_eligible=True, revoked_at=None)
        revoked_at = now if self.backorder_eligible else self.revoked_at
        return replace(self, backorder_eligible=False, revoked_at=revoked_at)


@dataclass(frozen=True)
class WarehouseStock:
    warehouse_id: str
    qty: int


@dataclass(frozen=True)
class Sku:
    sku_id: str
    listing_id: str
    seller_id: str
    listing_type: str = REGULAR
    handling_days: int | None = None
    backorder_stock: tuple[WarehouseStock, ...] = ()
    delisted: bool = False


@dataclass(frozen=True)
class Listing:
    listing_id: str
    seller_id: str
    category: str
    title: str


@dataclass(frozen=True)
class HandlingPolicy:
    """R05: the handling-time range, wider for the fashion categories."""

    minimum: int = 3
    maximum: int = 15
    fashion_maximum: int = 21
    fashion_categories: frozenset[str] = frozenset({"fashion"})

    def __post_init__(self) -> None:
        # fashion widens the range and never narrows it: a handling time accepted for a listing is
        # still accepted when it moves into a fashion category
        if not 1 <= self.minimum <= self.maximum <= self.fashion_maximum:
            raise ValueError(f"handling days need 1 <= minimum <= maximum <= fashion maximum, got "
                             f"{self.minimum}, {self.maximum}, {self.fashion_maximum}")

    def allowed_range(self, category: str) -> tuple[int, int]:
        top = self.fashion_maximum if category in self.fashion_categories else self.maximum
        return self.minimum, top


@dataclass(frozen=True)
class Caps:
    """R03, R04."""

    max_listings: int = 30
    max_skus: int = 10_000


@dataclass(frozen=True)
class BackorderUsage:
    """A seller's backorder set now: listings with at least one backorder SKU, and backorder SKUs."""

    listings: int
    skus: int

    def after_activation(self, *, sku_on_backorder: bool, listing_on_backorder: bool) -> BackorderUsage:
        """The usage once one more SKU is on backorder (unchanged if it already was)."""
        if sku_on_backorder:
            return self
        return BackorderUsage(self.listings + (0 if listing_on_backorder else 1), self.skus + 1)


# ---------------------------------------------------------------- authorisation (R06a)


def authorize(principal: Actor | None, seller_id: str, *, platform_only: bool = False,
              require_principal: bool = False) -> None:
    """May ``principal`` act for ``seller_id``? ``platform_only`` commands are operators' and services'."""
    if principal is None:
        if require_principal:
            raise Rejection("unauthenticated", "the command carries no principal")
        return
    if principal.kind in PLATFORM_KINDS:
        return
    if platform_only:
        raise Rejection("not_authorized", f"only an operator or a platform service may do this, not a {principal.kind}")
    if principal.kind != "seller":
        raise Rejection("not_authorized", f"a {principal.kind} principal may not change the catalog")
    check_owner(principal.id, seller_id, f"seller {seller_id}")


def check_owner(actor_seller_id: str, owner_seller_id: str, what: str) -> None:
    """R06a."""
    if actor_seller_id != owner_seller_id:
        raise Rejection("not_owner", f"{what} belongs to another seller")


# ---------------------------------------------------------------- sellers (R02)


@functools.cache
def _known_timezones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def timezone_for(region: str, requested: str | None) -> str:
    """The seller's time zone: the one asked for, else the region's; it must be a real IANA zone."""
    zone = requested or region_zone_name(region)
    if zone not in _known_timezones():
        raise Rejection("invalid_timezone", f"{zone!r} is not an IANA time zone")
    return zone


def check_eligible(seller: Seller) -> None:
    """R02 (see the module docstring for what revocation means)."""
    if seller.backorder_eligible:
        return
    if seller.revoked_at is not None:
        raise Rejection(
            "seller_not_eligible",
            f"seller {seller.seller_id}'s backorder eligibility was revoked on {seller.revoked_at:%Y-%m-%d}: "
            "no SKU can be activated or changed; SKUs already on backorder keep selling until deactivated",
        )
    raise Rejection("seller_not_eligible", f"seller {seller.seller_id} is not eligible for backorder")


# ---------------------------------------------------------------- listing types (R01)


def can_transition(current: str, target: str) -> bool:
    return (current, target) in ALLOWED_TRANSITIONS


def check_transition(current: str, target: str) -> None:
    """R01. Staying in the same type is not a transition and is always allowed here."""
    if current == target or can_transition(current, target):
        return
    raise Rejection(
        "listing_type_conflict",
        f"a SKU cannot go from {current} straight to {target}; change it to regular first",
    )


def check_set_listing_type(sku: Sku, target: str) -> None:
    """What ``SetListingType`` may do: any R01 transition except *into* backorder, which needs settings."""
    check_transition(sku.listing_type, target)
    if target == sku.listing_type:
        raise Rejection("listing_type_unchanged", f"SKU {sku.sku_id} is already {target}")
    if target == BACKORDER:
        raise Rejection("use_activate_backorder", "put a SKU on backorder with ActivateBackorder")


def check_deactivation(sku: Sku) -> None:
    if sku.listing_type != BACKORDER:
        raise Rejection("not_on_backorder", f"SKU {sku.sku_id} is {sku.listing_type}, not backorder")


# ---------------------------------------------------------------- handling time (R05)


def check_handling_days(days: int, category: str, policy: HandlingPolicy) -> None:
    """R05."""
    low, high = policy.allowed_range(category)
    if not low <= days <= high:
        raise Rejection(
            "handling_time_out_of_range",
            f"handling time must be {low}-{high} business days for category {category}, got {days}",
        )


def check_category_change(category: str, skus: Iterable[Sku], policy: HandlingPolicy) -> None:
    """R05 again when a listing changes category: its backorder SKUs' handling times must still fit."""
    low, high = policy.allowed_range(category)
    misfits = sorted(
        s.sku_id for s in skus
        if s.listing_type == BACKORDER and s.handling_days is not None and not low <= s.handling_days <= high
    )
    if misfits:
        raise Rejection(
            "handling_time_out_of_range",
            f"in category {category} handling time must be {low}-{high} business days; "
            f"change or deactivate {', '.join(misfits[:10])} first",
        )


def check_backorder_stock(stock: Sequence[WarehouseStock]) -> None:
    if len({w.warehouse_id for w in stock}) != len(stock):
        raise Rejection("duplicate_warehouse", "backorder stock names a warehouse twice")


# ---------------------------------------------------------------- caps (R03, R04)


def check_caps(usage: BackorderUsage, caps: Caps, *, sku_on_backorder: bool, listing_on_backorder: bool) -> None:
    """R03, R04: may one more SKU go on backorder, given the seller's usage now?"""
    after = usage.after_activation(sku_on_backorder=sku_on_backorder, listing_on_backorder=listing_on_backorder)
    if after.listings > usage.listings and after.listings > caps.max_listings:
        raise Rejection(
            "listing_cap_reached",
            f"a seller may have at most {caps.max_listings} listings on backorder and already has {usage.listings}",
        )
    if after.skus > usage.skus and after.skus > caps.max_skus:
        raise Rejection(
            "sku_cap_reached",
            f"a seller may have at most {caps.max_skus} SKUs on backorder and already has {usage.skus}",
        )


# ---------------------------------------------------------------- listings


def check_listing_skus(seller_id: str, listing_id: str, sku_ids: Sequence[str], known: dict[str, Sku]) -> None:
    """May ``listing_id`` hold exactly ``sku_ids``? ``known`` are the ones that exist already."""
    if len(set(sku_ids)) != len(sku_ids):
        raise Rejection("duplicate_sku", "a listing names the same SKU twice")
    for sku_id in sku_ids:
        sku = known.get(sku_id)
        if sku is None:
            continue
        check_owner(seller_id, sku.seller_id, f"SKU {sku_id}")
        if sku.listing_id != listing_id and not sku.delisted:
            raise Rejection("sku_in_other_listing",
                            f"SKU {sku_id} is listed in {sku.listing_id}; delist it there first")


def removed_skus(current: Iterable[Sku], wanted: Iterable[str]) -> list[Sku]:
    """The listed SKUs an update leaves out (they are delisted)."""
    keep = set(wanted)
    return sorted((s for s in current if s.sku_id not in keep and not s.delisted), key=lambda s: s.sku_id)
