"""Catalog rules R01-R06a. Pure: no I/O; functions decide or raise ``Rejection``."""

from __future__ import annotations

from dataclasses import dataclass

from shared.domain import Rejection

LISTING_TYPES = ("regular", "backorder", "pre_order", "made_to_order")

#: R01: every change goes through ``regular``; pre_order/made_to_order <-> backorder is refused.
ALLOWED_TRANSITIONS: frozenset[tuple[str, str]] = frozenset(
    {(a, "regular") for a in LISTING_TYPES if a != "regular"}
    | {("regular", b) for b in LISTING_TYPES if b != "regular"}
)

DEFAULT_TIMEZONES = {
    "US": "America/New_York", "GB": "Europe/London", "DE": "Europe/Berlin", "FR": "Europe/Paris",
    "ES": "Europe/Madrid", "IT": "Europe/Rome", "MY": "Asia/Kuala_Lumpur", "SG": "Asia/Singapore",
    "TH": "Asia/Bangkok", "VN": "Asia/Ho_Chi_Minh", "PH": "Asia/Manila", "ID": "Asia/Jakarta",
    "MX": "America/Mexico_City", "JP": "Asia/Tokyo", "BR": "America/Sao_Paulo",
}


@dataclass(frozen=True)
class Seller:
    seller_id: str
    region: str
    timezone: str
    backorder_eligible: bool


@dataclass(frozen=True)
class Sku:
    sku_id: str
    listing_id: str
    seller_id: str
    listing_type: str
    handling_days: int | None


@dataclass(frozen=True)
class Listing:
    listing_id: str
    seller_id: str
    category: str
    title: str


@dataclass(frozen=True)
class HandlingPolicy:
    minimum: int
    maximum: int
    fashion_maximum: int
    fashion_categories: frozenset[str]

    def allowed_range(self, category: str) -> tuple[int, int]:
        top = self.fashion_maximum if category in self.fashion_categories else self.maximum
        return self.minimum, top


@dataclass(frozen=True)
class Caps:
    max_listings: int
    max_skus: int


@dataclass(frozen=True)
class BackorderUsage:
    """What a seller has on backorder now, not counting the SKU being changed."""

    listings: frozenset[str]
    sku_count: int


def timezone_for(region: str, requested: str | None) -> str:
    return requested or DEFAULT_TIMEZONES.get(region, "UTC")


def check_transition(current: str, target: str) -> None:
    """R01."""
    if current == target or (current, target) in ALLOWED_TRANSITIONS:
        return
    raise Rejection(
        "listing_type_conflict",
        f"a SKU cannot go from {current} straight to {target}; change it to regular first",
    )


def check_owner(actor_seller_id: str, owner_seller_id: str, what: str) -> None:
    """R06a."""
    if actor_seller_id != owner_seller_id:
        raise Rejection("not_owner", f"{what} belongs to another seller")


def check_eligible(seller: Seller) -> None:
    """R02."""
    if not seller.backorder_eligible:
        raise Rejection("seller_not_eligible", f"seller {seller.seller_id} is not eligible for backorder")


def check_handling_days(days: int, category: str, policy: HandlingPolicy) -> None:
    """R05."""
    low, high = policy.allowed_range(category)
    if not low <= days <= high:
        raise Rejection(
            "handling_time_out_of_range",
            f"handling time must be {low}-{high} business days for category {category}, got {days}",
        )


def check_caps(usage: BackorderUsage, listing_id: str, caps: Caps) -> None:
    """R03, R04: would putting one more SKU of ``listing_id`` on backorder exceed a cap?"""
    if listing_id not in usage.listings and len(usage.listings) + 1 > caps.max_listings:
        raise Rejection(
            "listing_cap_reached", f"a seller may have at most {caps.max_listings} listings on backorder"
        )
    if usage.sku_count + 1 > caps.max_skus:
        raise Rejection("sku_cap_reached", f"a seller may have at most {caps.max_skus} SKUs on backorder")
