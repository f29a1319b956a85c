"""R32: a seller's stock alerts count backorder stock too. The low-stock threshold is compared with the SKU's
total available stock (in stock plus backorder), and an alert goes once per crossing when its backorder stock
runs out: as pure rules, then through the inventory handlers on in-memory fakes of their port."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from services.inventory import domain, handlers
from services.inventory.domain import Level, Policy
from shared.cause import Cause
from shared.contract import catalog as cat
from shared.contract import inventory as inv
from shared.contract import orders as o
from shared.messaging.decoding import Message
from tests.unit.inventory.fakes import FakeUow, FixedClock

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
SKU, SELLER = "sku-1", "seller-1"


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


# ---------------------------------------------------------------- through the handlers


def world(*, on_hand: int, backorder: int, threshold: int) -> FakeUow:
    uow = FakeUow(FixedClock(T0))
    store = uow.inventory
    store.policies[SKU] = Policy(SKU, SELLER, backorder_enabled=True, low_stock_threshold=threshold)
    store.seed_level(SKU, "wh-1", on_hand=on_hand, backorder_limit=backorder)
    return uow


def placed(qty: int) -> Message[o.OrderPlaced]:
    order_id = f"o-{uuid.uuid4().hex[:8]}"
    event = o.OrderPlaced(order_id=order_id, buyer_id="buyer-1", buyer_email="b@example.com", region="US",
                          placed_at=T0, lines=[o.OrderLine(line_id="l1", sku_id=SKU, qty=qty)])
    return Message(event, Cause(uuid.uuid4(), uuid.uuid4()))


def activated(qty: int) -> cat.BackorderActivated:
    return cat.BackorderActivated(seller_id=SELLER, listing_id="listing-1", sku_id=SKU, region="US",
                                  timezone="America/New_York", handling_days=5,
                                  backorder_stock=[cat.WarehouseQty(warehouse_id="wh-1", qty=qty)])


async def place(uow: FakeUow, qty: int) -> None:
    await handlers.allocate_orders([placed(qty)], uow)
    uow.clock.at += timedelta(minutes=1)


async def test_r32_threshold_counts_backorder_stock() -> None:
    uow = world(on_hand=2, backorder=3, threshold=4)

    await handlers.set_stock_policy(inv.SetStockPolicy(sku_id=SKU, low_stock_threshold=4), uow)
    assert uow.of_type("LowStock") == []  # 2 in stock is below 4, but 2 + 3 on back order is not

    await place(uow, 2)  # total 5 -> 3: below
    await place(uow, 1)  # 3 -> 2: still below, no second alert

    (alert,) = uow.of_type("LowStock")
    assert (alert.seller_id, alert.available_to_promise, alert.backorder, alert.total_available, alert.threshold) \
        == (SELLER, 0, 3, 3, 4)


async def test_r32_alert_when_backorder_stock_runs_out_once_per_crossing() -> None:
    uow = world(on_hand=1, backorder=3, threshold=0)

    await place(uow, 2)  # 1 regular + 1 backorder: 2 backorder units left
    await place(uow, 2)  # backorder stock runs out
    await place(uow, 1)  # rejected: still out, no second alert
    await handlers.set_stock_policy(inv.SetStockPolicy(sku_id=SKU), uow)  # looked at again, still out
    assert [(e.sku_id, e.seller_id, e.backorder_allocated) for e in uow.of_type("BackorderStockExhausted")] \
        == [(SKU, SELLER, 3)]
    assert uow.of_type("AllocationRejected")

    await handlers.on_backorder_activated(activated(2), uow)  # backorder stock added: re-armed
    await place(uow, 1)
    assert len(uow.of_type("BackorderStockExhausted")) == 1
    await place(uow, 1)  # runs out again
    assert len(uow.of_type("BackorderStockExhausted")) == 2
