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
