"""Handler behaviour on the in-memory fakes: authorisation, revocation, delisting, re-activation.

These pin the decisions the rules leave open; the integration tests prove the rules
themselves end to end through Kafka and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.catalog.domain import Caps
from services.catalog.ports import CatalogPolicy
from shared.contract import catalog as c
from shared.contract.catalog import WarehouseQty
from shared.contract.envelope import Principal

from .fakes import FakeUow, rejection_reason, run_sync, seller_principal

BUYER = Principal(kind="buyer", id="buyer-1")


def run_usage(uow: FakeUow, seller: str) -> tuple[int, int]:
    usage = run_sync(uow.catalog.backorder_usage(seller))
    return usage.listings, usage.skus


def stock(*pairs: tuple[str, int]) -> list[WarehouseQty]:
    return [WarehouseQty(warehouse_id=w, qty=q) for w, q in pairs]


def activate(sku: str, days: int = 5, seller: str = "s1", *pairs: tuple[str, int]) -> c.ActivateBackorder:
    return c.ActivateBackorder(seller_id=seller, sku_id=sku, handling_days=days,
                               backorder_stock=stock(*(pairs or (("wh-1", 10),))))


@pytest.fixture
def uow() -> FakeUow:
    uow = FakeUow(policy=CatalogPolicy(caps=Caps(max_listings=2, max_skus=3)))
    for seller, eligible in (("s1", True), ("s2", True), ("s3", False)):
        uow.handle(c.RegisterSeller(seller_id=seller, region="US", backorder_eligible=eligible))
    uow.handle(c.UpsertListing(seller_id="s1", listing_id="l1", category="home", title="Lamp", sku_ids=["a", "b"]))
    uow.handle(c.UpsertListing(seller_id="s1", listing_id="l2", category="fashion", title="Shirt", sku_ids=["c"]))
    uow.handle(c.UpsertListing(seller_id="s2", listing_id="l9", category="home", title="Mug", sku_ids=["z"]))
    return uow


# ---------------------------------------------------------------- authorisation (R06a)


def test_seller_acts_for_itself_only(uow: FakeUow) -> None:
    assert rejection_reason(uow.handle(activate("a"), seller_principal("s2"))) == "not_owner"
    assert rejection_reason(uow.handle(activate("z", 5, "s1"), seller_principal("s1"))) == "not_owner"
    assert rejection_reason(uow.handle(activate("a"), seller_principal("s1"))) is None


def test_buyer_may_not_change_the_catalog(uow: FakeUow) -> None:
    assert rejection_reason(uow.handle(activate("a"), BUYER)) == "not_authorized"


@pytest.mark.parametrize("command", [
    c.RegisterSeller(seller_id="s1", region="US", backorder_eligible=True),
    c.SetSellerEligibility(seller_id="s3", backorder_eligible=True),
])
def test_onboarding_and_eligibility_are_platform_decisions(uow: FakeUow, command: c.RegisterSeller) -> None:
    """A seller cannot make itself eligible (R02), not even by registering again."""
    assert rejection_reason(uow.handle(command, seller_principal(command.seller_id))) == "not_authorized"


def test_missing_principal_is_refused_when_required() -> None:
    uow = FakeUow(policy=CatalogPolicy(require_principal=True))
    events = uow.handle(c.RegisterSeller(seller_id="s1", region="US", backorder_eligible=True), principal=None)
    assert rejection_reason(events) == "unauthenticated"
    assert uow.catalog.sellers == {}


def test_every_write_takes_the_seller_lock_first(uow: FakeUow) -> None:
    uow.catalog.locked.clear()
    uow.handle(activate("a"))
    uow.handle(c.DeactivateBackorder(seller_id="s1", sku_id="a"))
    uow.handle(c.SetListingType(seller_id="s1", sku_id="a", listing_type="pre_order"))
    uow.handle(c.UpsertListing(seller_id="s1", listing_id="l1", category="home", title="Lamp", sku_ids=["a"]))
    uow.handle(c.SetSellerEligibility(seller_id="s1", backorder_eligible=False))
    assert uow.catalog.locked == ["s1"] * 5


# ---------------------------------------------------------------- eligibility (R02)


def test_revoked_seller_keeps_active_skus_but_cannot_activate_or_change(uow: FakeUow) -> None:
    uow.handle(activate("a", 5))
    events = uow.handle(c.SetSellerEligibility(seller_id="s1", backorder_eligible=False))
    assert events == [c.SellerEligibilityChanged(seller_id="s1", backorder_eligible=False)]
    assert uow.catalog.sellers["s1"].revoked_at == uow.clock

    for command in (activate("b"), activate("a", 9)):
        events = uow.handle(command)
        assert rejection_reason(events) == "seller_not_eligible"
        assert "revoked on 2026-11-23" in events[0].message  # type: ignore[attr-defined]
    assert uow.catalog.skus_by_id["a"].listing_type == "backorder"
    assert uow.catalog.skus_by_id["a"].handling_days == 5

    assert rejection_reason(uow.handle(c.DeactivateBackorder(seller_id="s1", sku_id="a"))) is None


def test_never_eligible_seller_is_told_so(uow: FakeUow) -> None:
    uow.handle(c.UpsertListing(seller_id="s3", listing_id="l3", category="home", title="Pot", sku_ids=["p"]))
    events = uow.handle(activate("p", 5, "s3"))
    assert rejection_reason(events) == "seller_not_eligible"
    assert "revoked" not in events[0].message  # type: ignore[attr-defined]


def test_regrant_clears_revocation_and_reregistration_reports_the_change(uow: FakeUow) -> None:
    uow.handle(c.SetSellerEligibility(seller_id="s1", backorder_eligible=False))
    uow.clock += timedelta(days=1)
    events = uow.handle(c.RegisterSeller(seller_id="s1", region="GB", backorder_eligible=True))
    assert events == [
        c.SellerRegistered(seller_id="s1", region="GB", timezone="Europe/London", backorder_eligible=True),
        c.SellerEligibilityChanged(seller_id="s1", backorder_eligible=True),
    ]
    assert uow.catalog.sellers["s1"].revoked_at is None
    assert rejection_reason(uow.handle(c.SetSellerEligibility(seller_id="s1", backorder_eligible=True))) == (
        "eligibility_unchanged")


def test_unknown_timezone_is_refused(uow: FakeUow) -> None:
    command = c.RegisterSeller(seller_id="s9", region="US", backorder_eligible=True, timezone="Mars/Olympus")
    assert rejection_reason(uow.handle(command)) == "invalid_timezone"


# ---------------------------------------------------------------- activation (R06)


def test_reactivation_replaces_days_and_stock_without_counting_again(uow: FakeUow) -> None:
    uow.handle(activate("a", 5, "s1", ("wh-1", 10), ("wh-2", 4)))
    events = uow.handle(activate("a", 7, "s1", ("wh-2", 6)))
    assert [type(e).__name__ for e in events] == ["BackorderActivated"]  # no ListingTypeChanged: same type
    sku = uow.catalog.skus_by_id["a"]
    assert (sku.handling_days, [(w.warehouse_id, w.qty) for w in sku.backorder_stock]) == (7, [("wh-2", 6)])
    assert run_usage(uow, "s1") == (1, 1)


def test_activation_announces_the_type_change_and_deactivation_undoes_it(uow: FakeUow) -> None:
    events = uow.handle(activate("a"))
    assert [type(e).__name__ for e in events] == ["BackorderActivated", "ListingTypeChanged"]
    assert events[0].region == "US" and events[0].timezone == "America/New_York"  # type: ignore[attr-defined]
    events = uow.handle(c.DeactivateBackorder(seller_id="s1", sku_id="a"))
    assert events == [
        c.BackorderDeactivated(seller_id="s1", listing_id="l1", sku_id="a"),
        c.ListingTypeChanged(seller_id="s1", sku_id="a", previous_type="backorder", listing_type="regular"),
    ]
    assert rejection_reason(uow.handle(c.DeactivateBackorder(seller_id="s1", sku_id="a"))) == "not_on_backorder"


def test_duplicate_warehouse_is_refused(uow: FakeUow) -> None:
    assert rejection_reason(uow.handle(activate("a", 5, "s1", ("wh-1", 1), ("wh-1", 2)))) == "duplicate_warehouse"


def test_caps_count_growth_only(uow: FakeUow) -> None:
    """Caps 2 listings / 3 SKUs: a second SKU of a listing on backorder does not count for R03."""
    uow.handle(c.UpsertListing(seller_id="s1", listing_id="l3", category="home", title="Rug", sku_ids=["d"]))
    assert [rejection_reason(uow.handle(activate(s))) for s in ("a", "b", "c")] == [None, None, None]
    assert rejection_reason(uow.handle(activate("d"))) == "listing_cap_reached"
    uow.handle(c.UpsertListing(seller_id="s1", listing_id="l1", category="home", title="Lamp",
                               sku_ids=["a", "b", "e"]))
    assert rejection_reason(uow.handle(activate("e"))) == "sku_cap_reached"
    assert rejection_reason(uow.handle(activate("a", 9))) is None  # changing an active SKU is not growth


# ---------------------------------------------------------------- listings


def test_removed_backorder_sku_is_delisted_and_deactivated(uow: FakeUow) -> None:
    uow.handle(activate("a"))
    uow.handle(c.SetListingType(seller_id="s1", sku_id="b", listing_type="pre_order"))
    events = uow.handle(c.UpsertListing(seller_id="s1", listing_id="l1", category="home", title="Lamp",
                                        sku_ids=["n"]))
    assert [type(e).__name__ for e in events] == [
        "BackorderDeactivated", "ListingTypeChanged", "ListingTypeChanged", "ListingUpserted"]
    assert events[-1].removed_sku_ids == ["a", "b"]  # type: ignore[attr-defined]
    assert uow.catalog.skus_by_id["a"].delisted and uow.catalog.skus_by_id["a"].listing_type == "regular"
    assert run_usage(uow, "s1") == (0, 0)
    assert rejection_reason(uow.handle(activate("a"))) == "sku_delisted"


def test_delisted_sku_can_be_listed_again_by_its_owner_only(uow: FakeUow) -> None:
    uow.handle(c.UpsertListing(seller_id="s1", listing_id="l1", category="home", title="Lamp", sku_ids=["b"]))
    steal = c.UpsertListing(seller_id="s2", listing_id="l9", category="home", title="Mug", sku_ids=["z", "a"])
    assert rejection_reason(uow.handle(steal)) == "not_owner"
    move = c.UpsertListing(seller_id="s1", listing_id="l2", category="fashion", title="Shirt", sku_ids=["c", "a"])
    assert rejection_reason(uow.handle(move)) is None
    assert uow.catalog.skus_by_id["a"].listing_id == "l2"


def test_sku_of_another_active_listing_and_duplicates_are_refused(uow: FakeUow) -> None:
    move = c.UpsertListing(seller_id="s1", listing_id="l2", category="fashion", title="Shirt", sku_ids=["c", "a"])
    assert rejection_reason(uow.handle(move)) == "sku_in_other_listing"
    twice = c.UpsertListing(seller_id="s1", listing_id="l2", category="fashion", title="Shirt", sku_ids=["c", "c"])
    assert rejection_reason(uow.handle(twice)) == "duplicate_sku"


def test_category_change_must_keep_handling_times_in_range(uow: FakeUow) -> None:
    """R05: a fashion SKU with 21 days blocks moving its listing to a 3-15 category."""
    uow.handle(activate("c", 21))
    to_home = c.UpsertListing(seller_id="s1", listing_id="l2", category="home", title="Shirt", sku_ids=["c"])
    events = uow.handle(to_home)
    assert rejection_reason(events) == "handling_time_out_of_range"
    assert uow.catalog.listings["l2"].category == "fashion"
    uow.handle(activate("c", 15))
    assert rejection_reason(uow.handle(to_home)) is None


def test_listing_of_another_seller_is_not_touched(uow: FakeUow) -> None:
    hijack = c.UpsertListing(seller_id="s1", listing_id="l9", category="home", title="Mine", sku_ids=["q"])
    assert rejection_reason(uow.handle(hijack)) == "not_owner"
    assert uow.catalog.listings["l9"].title == "Mug" and "q" not in uow.catalog.skus_by_id


def test_set_listing_type_rules(uow: FakeUow) -> None:
    def set_type(sku: str, target: str) -> str | None:
        command = c.SetListingType(seller_id="s1", sku_id=sku, listing_type=target)  # type: ignore[arg-type]
        return rejection_reason(uow.handle(command))

    assert set_type("a", "backorder") == "use_activate_backorder"
    assert set_type("a", "regular") == "listing_type_unchanged"
    assert set_type("a", "made_to_order") is None
    assert set_type("a", "backorder") == "listing_type_conflict"
    assert rejection_reason(uow.handle(activate("a"))) == "listing_type_conflict"
    assert set_type("a", "regular") is None
    uow.handle(activate("a"))
    assert set_type("a", "pre_order") == "listing_type_conflict"
    assert set_type("a", "regular") is None  # same as DeactivateBackorder
    assert uow.emitted[-2].payload == c.BackorderDeactivated(seller_id="s1", listing_id="l1", sku_id="a")

