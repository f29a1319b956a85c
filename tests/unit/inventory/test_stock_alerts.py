"""R32: a seller's stock alerts count backorder stock too. The low-stock threshold is compared with the SKU's
total available stock (in stock plus backorder), and an alert goes once per crossing when its backorder stock
runs out: the pure rules (tests/integration/test_seller_alerts.py proves them through Kafka)."""

from __future__ import annotations

from services.inventory import domain
from services.inventory.domain import Level, Policy

SKU = "sku-1"


def test_r32_total_available_is_in_stock_plus_backorder() -> None:
    levels = [Level(SKU, "wh-1", on_hand=5, allocated=1, backorder_limit=4, backorder_allocated=1),
              Level(SKU, "wh-2", on_hand=2, backorder_limit=2)]
    on_backorder = Policy(SKU, backorder_enabled=True, safety_stock=1)

    assert domain.total_available(levels, on_backorder) == (6 - 1) + 5  # ATP (less safety stock) + backorder
    assert domain.total_available(levels, Policy(SKU, safety_stock=1)) == 5  # not on backorder: none counts


def test_r32_backorder_runs_out_only_when_it_reaches_zero_on_backorder() -> None:
    def lv(limit: int, allocated: int) -> list[Level]:
        return [Level(SKU, "wh-1", backorder_limit=limit, backorder_allocated=allocated)]

    on, off = Policy(SKU, backorder_enabled=True), Policy(SKU)
    assert domain.backorder_ran_out(lv(3, 1), on, lv(3, 3), on)
    assert not domain.backorder_ran_out(lv(3, 3), on, lv(3, 3), on)  # already out: no second alert
    assert not domain.backorder_ran_out(lv(3, 1), on, lv(3, 2), on)  # one unit left
    assert not domain.backorder_ran_out(lv(3, 1), on, lv(3, 1), off)  # deactivated: the seller's doing
