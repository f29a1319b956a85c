"""R24: the quote made at an instant equals what acceptance decides and dates at that instant.

Acceptance here is the real pipeline, pure end to end: inventory's ``allocate_order`` splits
the order over sources and warehouses, and orders' ``Order.accept`` dates every part with
the settings orders reads. The quote (``promise.quote``) must give the same parts, in the same
order, with the same ship-by and delivery dates, for any stock, handling time, seller and
buyer region and instant (weekends, public holidays, either side of the cut-off).
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, time, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.inventory.allocation import allocate_order
from services.inventory.domain import Level, LineRequest, Policy
from services.inventory.promise import (
    IN_STOCK,
    ON_BACK_ORDER,
    OUT_OF_STOCK,
    Availability,
    SellerTerms,
    availability,
    quote,
    storefront_label,
)
from services.orders import domain as orders
from services.orders.domain import SkuTerms
from services.orders.lines import AllocatedQty
from shared.dates import DEFAULT_TRANSIT_DAYS, DatingPolicy
from shared.domain import Rejection
from shared.regions import REGION_TIMEZONES
from tests.unit.inventory.test_allocation_properties import levels_of

REGIONS = [*sorted(REGION_TIMEZONES), "IL"]  # IL: a Friday-Saturday weekend, no zone of its own here
#: around the year end (Christmas, New Year), US Thanksgiving and Golden Week, on any minute
START = datetime(2026, 11, 20, tzinfo=UTC)

instants = st.one_of(
    st.integers(0, 60 * 24 * 60).map(lambda m: START + timedelta(minutes=m)),
    st.integers(0, 60 * 24 * 14).map(lambda m: datetime(2027, 4, 24, tzinfo=UTC) + timedelta(minutes=m)),
)
dating_policies = st.builds(
    DatingPolicy,
    cutoff=st.sampled_from([time(14, 0), time(12, 30), time(23, 59)]),
    regular_dispatch_days=st.integers(0, 5),
    transit_days=st.just(DEFAULT_TRANSIT_DAYS),
    default_transit_days=st.integers(0, 8),
)
sellers = st.one_of(
    st.just(SellerTerms()),  # a seller inventory and orders never heard of: the buyer's region dates it
    st.builds(SellerTerms, region=st.sampled_from(REGIONS),
              timezone=st.one_of(st.none(), st.sampled_from(sorted(REGION_TIMEZONES.values())))),
)


def accept_at(at: datetime, qty: int, buyer_region: str, levels: list[Level], policy: Policy, seller: SellerTerms,
              dating: DatingPolicy) -> list[tuple[str, str, int, object, object]] | None:
    """What acceptance decides for a one-line order placed at ``at``: (warehouse, source, qty, ship-by,
    delivery) per part, or None when inventory rejects it."""
    allocation = allocate_order("o-1", [LineRequest("l1", "sku-1", qty)], {"sku-1": {lv.warehouse_id: lv for lv in
                                                                                   copy.deepcopy(levels)}},
                                {"sku-1": policy})
    if not allocation.accepted:
        return None
    order = orders.place(order_id="o-1", buyer_id="b-1", buyer_email="b@example.com", region=buyer_region,
                         locale="en_US", timezone=None, placed_at=at, lines=[("l1", "sku-1", qty)],
                         sellers={"sku-1": "s-1"})
    terms = SkuTerms(seller_id="s-1", region=seller.region or "", timezone=seller.timezone or "",
                     handling_days=policy.handling_days)
    parts = {"l1": [AllocatedQty(p.warehouse_id, p.source, p.qty)  # type: ignore[arg-type]
                    for p in allocation.lines["l1"]]}
    order.accept(parts, lambda _: terms, dating, at)
    return [(p.warehouse_id, p.source, p.qty, p.ship_by, p.estimated_delivery) for p in order.lines[0].parts]


@settings(max_examples=400, deadline=None)
@given(levels=levels_of(), backorder=st.booleans(), safety=st.integers(0, 6), handling=st.integers(3, 21),
       qty=st.integers(1, 40), buyer=st.sampled_from(REGIONS), seller=sellers, at=instants, dating=dating_policies)
def test_r24_quote_at_t_equals_acceptance_at_t(levels: list[Level], backorder: bool, safety: int, handling: int,
                                               qty: int, buyer: str, seller: SellerTerms, at: datetime,
                                               dating: DatingPolicy) -> None:
    policy = Policy("sku-1", "s-1", backorder_enabled=backorder, safety_stock=safety,
                    handling_days=handling if backorder else None)
    before = copy.deepcopy(levels)
    accepted = accept_at(at, qty, buyer, levels, policy, seller, dating)

    try:
        answer = quote("sku-1", qty, buyer, at, levels=levels, policy=policy, seller=seller, dating=dating)
    except Rejection as refused:  # more than what is left, while something is left
        assert refused.reason == "quantity_exceeds_stock"
        assert accepted is None and answer_total(levels, policy) > 0
        return

    assert levels == before  # a quote reserves nothing
    if accepted is None:
        assert (answer.orderable, answer.label, answer.parts) == (False, OUT_OF_STOCK, ())
        return
    assert answer.orderable
    assert [(p.warehouse_id, p.source, p.qty, p.ship_by, p.estimated_delivery) for p in answer.parts] == accepted
    assert answer.regular_qty + answer.backorder_qty == qty
    assert answer.label == (ON_BACK_ORDER if answer.backorder_qty else IN_STOCK)


def answer_total(levels: list[Level], policy: Policy) -> int:
    return availability(levels, policy).total


def test_r24_label_is_on_back_order_for_any_backordered_unit() -> None:
    levels = [Level("sku-1", "wh-1", on_hand=1, backorder_limit=5)]
    policy = Policy("sku-1", backorder_enabled=True, handling_days=5)
    at = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)  # Monday 09:00 New York

    one = quote("sku-1", 1, "US", at, levels=levels, policy=policy, seller=SellerTerms("US", "America/New_York"),
                dating=DatingPolicy(transit_days=DEFAULT_TRANSIT_DAYS))
    two = quote("sku-1", 2, "US", at, levels=levels, policy=policy, seller=SellerTerms("US", "America/New_York"),
                dating=DatingPolicy(transit_days=DEFAULT_TRANSIT_DAYS))

    assert (one.label, one.regular_qty, one.backorder_qty) == (IN_STOCK, 1, 0)
    assert (two.label, two.regular_qty, two.backorder_qty) == (ON_BACK_ORDER, 1, 1)
    # regular: 2 business days from Monday; backorder: 5, skipping Thanksgiving (Thu 26)
    assert [str(p.ship_by) for p in two.parts] == ["2026-11-25", "2026-12-01"]


@pytest.mark.parametrize(("available", "label"), [
    (Availability(1, 0), IN_STOCK), (Availability(1, 4), IN_STOCK), (Availability(0, 4), ON_BACK_ORDER),
    (Availability(0, 0), OUT_OF_STOCK),
])
def test_r24_storefront_label_of_one_unit(available: Availability, label: str) -> None:
    assert storefront_label(available) == label


def test_r24_zero_quantity_is_refused() -> None:
    with pytest.raises(Rejection) as refused:
        quote("sku-1", 0, "US", START, levels=[], policy=Policy("sku-1"), seller=SellerTerms(),
              dating=DatingPolicy())
    assert refused.value.reason == "invalid_quantity"
