"""The inventory aggregate's one ownership rule (R06a), for stock commands and for inbounds and transfer policies."""

from __future__ import annotations

import pytest

from services.inventory.domain import Policy
from services.inventory.stock import Stock
from shared.contract.envelope import Principal
from shared.domain import Rejection

SELLER = Principal(kind="seller", id="seller-1")
OTHER = Principal(kind="seller", id="seller-2")
OPERATOR = Principal(kind="operator", id="ops-1")


def refusal(stock: Stock, sku_id: str, actor: Principal | None, *, must_be_listed: bool = False) -> str | None:
    try:
        stock.authorize(sku_id, actor, must_be_listed=must_be_listed)
    except Rejection as refused:
        return refused.reason
    return None


@pytest.mark.parametrize(("sku_id", "actor", "must_be_listed", "reason"), [
    ("listed", SELLER, False, None),
    ("listed", OTHER, False, "not_owner"),
    ("listed", OTHER, True, "not_owner"),
    ("listed", OPERATOR, True, None),
    ("unlisted", SELLER, False, "unknown_sku"),  # a seller owns no SKU nobody listed
    ("unlisted", OPERATOR, False, None),  # an operator may count stock before the listing comes
    ("unlisted", None, False, None),
    ("unlisted", OPERATOR, True, "unknown_sku"),  # an inbound or a transfer policy is of a listed SKU
    ("unlisted", None, True, "unknown_sku"),
])
def test_r06a_a_seller_acts_only_on_its_own_skus(sku_id: str, actor: Principal | None, must_be_listed: bool,
                                                 reason: str | None) -> None:
    stock = Stock({"listed": Policy("listed", "seller-1"), "unlisted": Policy("unlisted")}, [])
    assert refusal(stock, sku_id, actor, must_be_listed=must_be_listed) == reason
