"""Property tests of the pure rules: the listing-type state machine (R01), the cap arithmetic
(R03, R04), the handling-time ranges (R05) and eligibility revocation (R02)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from services.catalog import domain
from services.catalog.domain import (
    BACKORDER,
    LISTING_TYPES,
    REGULAR,
    BackorderUsage,
    Caps,
    HandlingPolicy,
    Seller,
    Sku,
)
from shared.domain import Rejection

types = st.sampled_from(LISTING_TYPES)


def accepted(check: object, *args: object, **kwargs: object) -> bool:
    try:
        check(*args, **kwargs)  # type: ignore[operator]
    except Rejection:
        return False
    return True


# ---------------------------------------------------------------- R01: the listing-type state machine


@given(types, types)
def test_r01_a_transition_is_allowed_iff_it_touches_regular(current: str, target: str) -> None:
    allowed = accepted(domain.check_transition, current, target)
    assert allowed == (current == target or REGULAR in (current, target))


@given(st.sampled_from(["pre_order", "made_to_order"]))
def test_r01_pre_and_made_to_order_never_meet_backorder(other: str) -> None:
    for a, b in ((other, BACKORDER), (BACKORDER, other)):
        with pytest.raises(Rejection) as info:
            domain.check_transition(a, b)
        assert info.value.reason == "listing_type_conflict"


@given(types, types)
def test_r01_every_type_reaches_every_other_within_two_steps_through_regular(start: str, goal: str) -> None:
    assume(start != goal)
    direct = domain.can_transition(start, goal)
    via_regular = domain.can_transition(start, REGULAR) and domain.can_transition(REGULAR, goal)
    assert direct or via_regular


@given(st.lists(st.one_of(types, st.text(max_size=12)), max_size=30))
def test_r01_walks_of_accepted_changes_keep_exactly_one_valid_type(targets: list[str]) -> None:
    """Drive the machine with arbitrary requests, names that are no listing type among them: the SKU
    always has one of the four types, and every change it went through touched regular."""
    current, path = REGULAR, [REGULAR]
    for target in targets:
        if accepted(domain.check_transition, current, target) and target != current:
            current = target
            path.append(current)
        assert current in LISTING_TYPES
    assert all(REGULAR in step for step in itertools.pairwise(path))


@given(types, types)
def test_r01_set_listing_type_never_enters_backorder_and_always_changes_something(current: str, target: str) -> None:
    sku = Sku("sku", "listing", "seller", listing_type=current)
    if accepted(domain.check_set_listing_type, sku, target):
        assert target != BACKORDER and target != current and domain.can_transition(current, target)


# ---------------------------------------------------------------- R03, R04: cap arithmetic

caps_st = st.builds(Caps, max_listings=st.integers(0, 40), max_skus=st.integers(0, 60))
usage_st = st.builds(BackorderUsage, listings=st.integers(0, 50), skus=st.integers(0, 80))


@given(usage_st, caps_st, st.booleans(), st.booleans())
def test_r03_r04_an_activation_is_refused_iff_it_grows_a_count_past_its_cap(
    usage: BackorderUsage, caps: Caps, sku_on: bool, listing_on: bool
) -> None:
    assume(usage.listings <= usage.skus)  # a listing on backorder has at least one backorder SKU
    assume(not sku_on or listing_on)  # an active SKU's listing is on backorder
    after = usage.after_activation(sku_on_backorder=sku_on, listing_on_backorder=listing_on)
    grows_listings = after.listings > usage.listings
    grows_skus = after.skus > usage.skus
    try:
        domain.check_caps(usage, caps, sku_on_backorder=sku_on, listing_on_backorder=listing_on)
        reason = None
    except Rejection as rejection:
        reason = rejection.reason
    if grows_listings and after.listings > caps.max_listings:
        assert reason == "listing_cap_reached"
    elif grows_skus and after.skus > caps.max_skus:
        assert reason == "sku_cap_reached"
    else:
        assert reason is None
    assert after.skus - usage.skus in (0, 1) and after.listings - usage.listings in (0, 1)


@given(caps_st, st.lists(st.tuples(st.booleans(), st.integers(0, 45), st.integers(0, 3)), max_size=200))
def test_r03_r04_no_sequence_of_activations_and_deactivations_exceeds_a_cap(
    caps: Caps, steps: list[tuple[bool, int, int]]
) -> None:
    """A seller's backorder set, driven by random (de)activations of (listing, SKU) pairs through
    ``check_caps``: it never holds more than the caps, and it fills up to them when asked to."""
    on: set[tuple[int, int]] = set()
    for activate, listing, variant in steps:
        sku = (listing, variant)
        if not activate:
            on.discard(sku)
            continue
        usage = BackorderUsage(len({lst for lst, _ in on}), len(on))
        listing_on = any(lst == listing for lst, _ in on)
        ok = accepted(domain.check_caps, usage, caps, sku_on_backorder=sku in on, listing_on_backorder=listing_on)
        fits = len({lst for lst, _ in on | {sku}}) <= caps.max_listings and len(on | {sku}) <= caps.max_skus
        assert ok == (fits or sku in on)
        if ok:
            on.add(sku)
        assert len({lst for lst, _ in on}) <= caps.max_listings
        assert len(on) <= caps.max_skus


def test_r03_r04_defaults_are_the_marketplace_limits() -> None:
    assert Caps() == Caps(max_listings=30, max_skus=10_000)
    with pytest.raises(Rejection, match="30"):
        domain.check_caps(BackorderUsage(30, 30), Caps(), sku_on_backorder=False, listing_on_backorder=False)
    with pytest.raises(Rejection, match="10000"):
        domain.check_caps(BackorderUsage(20, 10_000), Caps(), sku_on_backorder=False, listing_on_backorder=True)


# ---------------------------------------------------------------- R05: handling time


@given(st.integers(-1000, 1000), st.sampled_from(["fashion", "home", "toys"]))
def test_r05_handling_days_accepted_iff_in_the_category_range(days: int, category: str) -> None:
    policy = HandlingPolicy()
    top = 21 if category == "fashion" else 15
    assert accepted(domain.check_handling_days, days, category, policy) == (3 <= days <= top)


@given(st.integers(-1, 30), st.integers(-1, 30), st.integers(-1, 30), st.integers(-5, 40))
def test_r05_fashion_range_contains_the_regular_range(low: int, high: int, fashion_high: int, days: int) -> None:
    """Bounds drawn on their own: a policy whose fashion range would not contain the regular one is refused."""
    if not 1 <= low <= high <= fashion_high:
        with pytest.raises(ValueError):
            HandlingPolicy(low, high, fashion_high, frozenset({"fashion"}))
        return
    policy = HandlingPolicy(low, high, fashion_high, frozenset({"fashion"}))
    if accepted(domain.check_handling_days, days, "home", policy):
        assert accepted(domain.check_handling_days, days, "fashion", policy)


# ---------------------------------------------------------------- R02: revocation


@given(st.booleans(), st.lists(st.booleans(), max_size=10))
def test_r02_revocation_is_remembered_until_granted_again(start: bool, changes: list[bool]) -> None:
    seller = Seller("s", "US", "UTC", start)
    for day, eligible in enumerate(changes, start=1):
        before = seller
        seller = seller.with_eligibility(eligible, datetime(2026, 11, day, tzinfo=UTC))
        assert seller.backorder_eligible == eligible
        if eligible:
            assert seller.revoked_at is None
        elif before.backorder_eligible:
            assert seller.revoked_at == datetime(2026, 11, day, tzinfo=UTC)
        else:
            assert seller.revoked_at == before.revoked_at
        assert accepted(domain.check_eligible, seller) == eligible
