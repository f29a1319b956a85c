"""Catalog decisions at their edges: R05's handling-time range includes both ends and follows the category a
listing moves to, R06a's ownership checks every SKU a listing names, and a command without a principal is
refused only where one is required."""

from __future__ import annotations

import pytest

from services.catalog import domain
from services.catalog.domain import BACKORDER, HandlingPolicy, Sku
from shared.contract.envelope import Principal
from shared.domain import Rejection

POLICY = HandlingPolicy()  # 3-15 business days, 21 in fashion


def reason_of(fn: object, *args: object, **kwargs: object) -> str:
    with pytest.raises(Rejection) as caught:
        fn(*args, **kwargs)  # type: ignore[operator]
    return caught.value.reason


@pytest.mark.parametrize(("days", "category"), [(3, "home"), (15, "home"), (21, "fashion")])
def test_r05_the_handling_time_range_includes_both_ends(days: int, category: str) -> None:
    domain.check_handling_days(days, category, POLICY)


def test_r05_a_listing_moves_category_only_when_its_backorder_skus_fit_the_new_range() -> None:
    skus = [Sku("sku-1", "L1", "s1", BACKORDER, 3), Sku("sku-2", "L1", "s1", BACKORDER, 18),
            Sku("sku-3", "L1", "s1", "regular", 30)]
    domain.check_category_change("fashion", skus, POLICY)  # 3 and 18 fit 3-21; a regular SKU has no handling time
    assert reason_of(domain.check_category_change, "home", skus, POLICY) == "handling_time_out_of_range"
    domain.check_category_change("home", skus[:1], POLICY)  # 3, the range's lowest, still fits


def test_r06a_every_sku_a_listing_names_is_checked_not_only_up_to_a_new_one() -> None:
    known = {"sku-2": Sku("sku-2", "L1", "s2")}
    assert reason_of(domain.check_listing_skus, "s1", "L1", ["sku-new", "sku-2"], known) == "not_owner"


def test_r06a_a_command_without_a_principal_is_refused_only_where_one_is_required() -> None:
    domain.authorize(None, "s1")
    assert reason_of(domain.authorize, None, "s1", require_principal=True) == "unauthenticated"
    domain.authorize(Principal(kind="seller", id="s1"), "s1")  # a seller's own command, by default
    assert reason_of(domain.authorize, Principal(kind="seller", id="s1"), "s1", platform_only=True) == \
        "not_authorized"


def refusal(fn: object, *args: object, **kwargs: object) -> tuple[str, str]:
    with pytest.raises(Rejection) as caught:
        fn(*args, **kwargs)  # type: ignore[operator]
    return caught.value.reason, caught.value.message


def test_r02_r05_r06a_refusals_say_why_in_words() -> None:
    from datetime import UTC, datetime

    from services.catalog.domain import Seller, WarehouseStock

    revoked = Seller("s1", "US", "America/New_York", False, revoked_at=datetime(2026, 11, 2, tzinfo=UTC))
    assert refusal(domain.check_eligible, revoked) == (
        "seller_not_eligible", "seller s1's backorder eligibility was revoked on 2026-11-02: no SKU can be "
        "activated or changed; SKUs already on backorder keep selling until deactivated")
    assert refusal(domain.check_handling_days, 2, "home", POLICY) == (
        "handling_time_out_of_range", "handling time must be 3-15 business days for category home, got 2")
    assert refusal(domain.check_set_listing_type, Sku("sku-1", "L1", "s1"), BACKORDER) == (
        "use_activate_backorder", "put a SKU on backorder with ActivateBackorder")
    assert refusal(domain.check_backorder_stock, [WarehouseStock("wh-1", 1), WarehouseStock("wh-1", 2)]) == (
        "duplicate_warehouse", "backorder stock names a warehouse twice")
    assert refusal(domain.check_listing_skus, "s1", "L1", ["sku-1", "sku-1"], {}) == (
        "duplicate_sku", "a listing names the same SKU twice")
    assert refusal(domain.check_listing_skus, "s1", "L1", ["sku-2"], {"sku-2": Sku("sku-2", "L1", "s2")}) == (
        "not_owner", "SKU sku-2 belongs to another seller")
    assert refusal(domain.authorize, None, "s1", require_principal=True) == (
        "unauthenticated", "the command carries no principal")
    assert refusal(domain.authorize, Principal(kind="seller", id="s2"), "s1") == (
        "not_owner", "seller s1 belongs to another seller")
    with pytest.raises(ValueError) as invalid:
        HandlingPolicy(minimum=5, maximum=4)
    assert str(invalid.value) == "handling days need 1 <= minimum <= maximum <= fashion maximum, got 5, 4, 21"


def test_r05_a_category_change_names_the_first_ten_misfits() -> None:
    skus = [Sku(f"sku-{n:02}", "L1", "s1", BACKORDER, 20) for n in range(12)]
    reason, message = refusal(domain.check_category_change, "home", skus, POLICY)
    assert (reason, message) == ("handling_time_out_of_range", "in category home handling time must be 3-15 "
                                 "business days; change or deactivate " + ", ".join(
                                     f"sku-{n:02}" for n in range(10)) + " first")
