"""R24, R25: what a storefront shows of one unit, and the dates it promises, on a fixed clock.

Friday 2026-12-04 20:30 UTC is 15:30 in New York, after the seller's 14:00 cut-off there, and 12:30 in
Los Angeles, before it: the seller's own zone decides which day the handling time counts from."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from services.inventory.domain import Level, Policy
from services.inventory.promise import (
    IN_STOCK,
    ON_BACK_ORDER,
    OUT_OF_STOCK,
    Availability,
    SellerTerms,
    Shown,
    UnitPromise,
    shown,
    storefront_label,
    unit_promise,
)
from shared.dates import DatingPolicy

AT = datetime(2026, 12, 4, 20, 30, tzinfo=UTC)
LA = SellerTerms("US", "America/Los_Angeles")
BACKORDER = Policy("sku-1", backorder_enabled=True, handling_days=5)


@pytest.mark.parametrize(("regular", "backorder", "label"), [
    (1, 0, IN_STOCK), (1, 5, IN_STOCK), (0, 1, ON_BACK_ORDER), (0, 0, OUT_OF_STOCK), (-1, 0, OUT_OF_STOCK)])
def test_r25_the_label_of_one_unit(regular: int, backorder: int, label: str) -> None:
    assert storefront_label(Availability(regular, backorder)) == label


def test_r25_what_is_shown_is_the_label_and_the_handling_time() -> None:
    levels = [Level("sku-1", "wh-1", backorder_limit=2)]
    assert shown(levels, BACKORDER) == Shown(ON_BACK_ORDER, 5)


def test_r24_an_in_stock_unit_ships_after_the_regular_dispatch_days_in_the_sellers_zone() -> None:
    levels = [Level("sku-1", "wh-1", on_hand=1, backorder_limit=2)]
    got = unit_promise(AT, levels, BACKORDER, LA, DatingPolicy())
    assert got == UnitPromise(Shown(IN_STOCK, 5), Availability(1, 2), 2, date(2026, 12, 8), date(2026, 12, 15))


def test_r24_a_backorder_unit_ships_after_the_handling_days_not_the_regular_ones() -> None:
    levels = [Level("sku-1", "wh-1", backorder_limit=2)]
    got = unit_promise(AT, levels, BACKORDER, LA, DatingPolicy())
    assert got == UnitPromise(Shown(ON_BACK_ORDER, 5), Availability(0, 2), 5, date(2026, 12, 11),
                              date(2026, 12, 18))
    # in New York the cut-off has passed: the handling time counts from Monday
    ny = unit_promise(AT, levels, BACKORDER, SellerTerms("US", "America/New_York"), DatingPolicy())
    assert (ny.ship_by, ny.estimated_delivery) == (date(2026, 12, 14), date(2026, 12, 21))


def test_r24_without_the_sellers_region_the_days_are_known_and_the_dates_are_not() -> None:
    levels = [Level("sku-1", "wh-1", backorder_limit=2)]
    assert unit_promise(AT, levels, BACKORDER, SellerTerms(), DatingPolicy()) == UnitPromise(
        Shown(ON_BACK_ORDER, 5), Availability(0, 2), 5, None, None)


def test_r24_an_out_of_stock_unit_promises_nothing() -> None:
    assert unit_promise(AT, [Level("sku-1", "wh-1")], BACKORDER, LA, DatingPolicy()) == UnitPromise(
        Shown(OUT_OF_STOCK, 5), Availability(0, 0), None, None, None)


def test_r24_more_than_the_last_unit_is_refused_not_shown_out_of_stock() -> None:
    from services.inventory.promise import quote
    from shared.domain import Rejection

    levels = [Level("sku-1", "wh-1", backorder_limit=1)]
    with pytest.raises(Rejection) as refused:
        quote("sku-1", 2, "US", AT, levels=levels, policy=BACKORDER, seller=LA, dating=DatingPolicy())
    assert (refused.value.reason, refused.value.message) == (
        "quantity_exceeds_stock", "2 units of sku-1 asked, 0 in stock and 1 on back order left")
    with pytest.raises(Rejection) as refused:
        quote("sku-1", 0, "US", AT, levels=levels, policy=BACKORDER, seller=LA, dating=DatingPolicy())
    assert (refused.value.reason, refused.value.message) == ("invalid_quantity", "quantity must be at least 1, got 0")


def test_r24_a_quote_pinned_whole_in_stock_on_back_order_and_out_of_stock() -> None:
    from services.inventory.promise import Quote, QuotedPart, quote

    levels = [Level("sku-1", "wh-1", on_hand=1, backorder_limit=3)]
    assert quote("sku-1", 2, "GB", AT, levels=levels, policy=BACKORDER, seller=LA, dating=DatingPolicy()) == Quote(
        "sku-1", 2, "GB", AT, True, ON_BACK_ORDER, 1, 1, (
            QuotedPart("wh-1", "regular", 1, date(2026, 12, 8), date(2026, 12, 15)),
            QuotedPart("wh-1", "backorder", 1, date(2026, 12, 11), date(2026, 12, 18))),
        Availability(1, 3), 5)
    sold_out = [Level("sku-1", "wh-1")]
    assert quote("sku-1", 1, "GB", AT, levels=sold_out, policy=BACKORDER, seller=LA, dating=DatingPolicy()) == \
        Quote("sku-1", 1, "GB", AT, False, OUT_OF_STOCK, 0, 0, (), Availability(0, 0), 5)


def test_r07_backorder_units_count_only_while_the_sku_is_on_backorder() -> None:
    from services.inventory.promise import availability

    levels = [Level("sku-1", "wh-1", on_hand=2, backorder_limit=3)]
    assert availability(levels, Policy("sku-1")) == Availability(2, 0)
    assert availability(levels, BACKORDER) == Availability(2, 3)
