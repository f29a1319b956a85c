"""The batch handlers decide exactly as the per-message ones: same stored orders, same events, same causes."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.orders import batch_handlers, handlers
from services.orders.domain import snapshot
from shared.cause import Cause
from shared.contract import catalog as cat
from shared.contract import inventory as inv
from shared.contract import orders as o
from shared.contract.common import StockSource
from shared.contract.envelope import Principal
from shared.domain import Rejection
from shared.messaging.decoding import Message
from tests.unit.orders.fakes import FakeUoW, FixedClock

PLACED = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)


async def _uow() -> FakeUoW:
    unit = FakeUoW(FixedClock(PLACED))
    await handlers.seller_registered(cat.SellerRegistered(seller_id="s1", region="US", timezone="America/New_York",
                                                          backorder_eligible=True), unit)
    await handlers.listing_upserted(cat.ListingUpserted(seller_id="s1", listing_id="L1", category="home", title="t",
                                                        sku_ids=["sku-a", "sku-b"]), unit)
    await handlers.backorder_activated(cat.BackorderActivated(
        seller_id="s1", listing_id="L1", sku_id="sku-a", region="US", timezone="America/New_York", handling_days=3,
        backorder_stock=[cat.WarehouseQty(warehouse_id="wh-1", qty=10)]), unit)
    unit.take()
    return unit


def _msg(payload: Any, at: datetime = PLACED, principal: Principal | None = None) -> Message[Any]:
    return Message(payload, Cause(uuid.uuid4(), uuid.uuid4(), principal, payload.message_type, at))


def _place(order_id: str, *lines: tuple[str, str, int], buyer: str = "b1") -> o.PlaceOrder:
    return o.PlaceOrder(order_id=order_id, buyer_id=buyer, buyer_email="b@example.com", region="US",
                        lines=[o.OrderLine(line_id=i, sku_id=s, qty=q) for i, s, q in lines])


def _allocated(order_id: str, *lines: tuple[str, str, StockSource, int]) -> inv.StockAllocated:
    return inv.StockAllocated(order_id=order_id, lines=[
        inv.AllocatedLine(line_id=line_id, sku_id=sku, parts=[inv.AllocatedPart(warehouse_id="wh-1", source=source,
                                                                                qty=qty)])
        for line_id, sku, source, qty in lines
    ])


def _level(sku: str, atp: int, wh: str = "wh-1") -> inv.StockChanged:
    return inv.StockChanged(sku_id=sku, warehouse_id=wh, on_hand=atp, allocated=0, backorder_limit=0,
                            backorder_allocated=0, available_to_promise=atp, total=atp,
                            sku_available_to_promise=atp, sku_total=atp)


async def _one_at_a_time(messages: list[Message[Any]], unit: FakeUoW) -> None:
    per_message: dict[str, Callable[[Any, Any], Awaitable[None]]] = {
        "PlaceOrder": handlers.place_order, "StockAllocated": handlers.stock_allocated,
        "AllocationRejected": handlers.allocation_rejected,
    }
    for m in messages:
        with unit.caused_by(m.cause):
            if m.cause.message_type == "StockChanged":
                await batch_handlers.inventory_events([m], unit)
            else:
                await per_message[m.cause.message_type](m.payload, unit)


def _state(unit: FakeUoW) -> tuple[Any, ...]:
    emitted = [(e.topic, e.key, e.payload, e.cause.event_id if e.cause else None) for e in unit.emitted]
    return ({k: snapshot(v) for k, v in unit.orders.orders.items()}, unit.stock.level, unit.stock.exhausted_at,
            emitted, unit.orders.lost)


async def test_a_run_of_place_order_stores_and_emits_what_one_at_a_time_does() -> None:
    run = [_msg(_place("o1", ("l1", "sku-a", 2), ("l2", "sku-b", 1))),
           _msg(_place("o2", ("l1", "sku-new", 1)), principal=Principal(kind="buyer", id="b1")),
           _msg(_place("o1", ("l1", "sku-a", 2), ("l2", "sku-b", 1)))]  # the same order again: a retry
    batch, single = await _uow(), await _uow()
    await batch_handlers.place_orders(run, batch)
    await _one_at_a_time(run, single)
    assert _state(batch) == _state(single)
    assert [e.payload.order_id for e in batch.emitted] == ["o1", "o2"]
    assert batch.orders.correlations == {"o1": run[0].cause.correlation_id, "o2": run[1].cause.correlation_id}


@pytest.mark.parametrize("refused", [
    _msg(_place("o1", ("l1", "sku-b", 1))),  # o1 again with other contents
    _msg(_place("o3", ("l1", "sku-b", 1)), principal=Principal(kind="buyer", id="someone-else")),
])
async def test_a_refused_command_in_a_run_raises_so_the_runtime_goes_one_by_one(refused: Message[Any]) -> None:
    unit = await _uow()
    with pytest.raises(Rejection):
        await batch_handlers.place_orders([_msg(_place("o1", ("l1", "sku-a", 1))), refused], unit)


async def test_a_mixed_run_of_inventory_events_decides_what_one_at_a_time_does() -> None:
    batch, single = await _uow(), await _uow()
    placed = [_msg(_place(f"o{n}", ("l1", "sku-a", 1), ("l2", "sku-b", 1))) for n in range(4)]
    for unit in (batch, single):
        await batch_handlers.place_orders(placed, unit)
        unit.take()
    later = PLACED + timedelta(seconds=1)
    run = [
        _msg(_allocated("o0", ("l1", "sku-a", "regular", 1), ("l2", "sku-b", "regular", 1))),
        _msg(_level("sku-a", 3), later),
        _msg(inv.AllocationRejected(order_id="o1", reason="out_of_stock", line_ids=["l2"]), later),
        _msg(_allocated("o2", ("l1", "sku-a", "backorder", 1), ("l2", "sku-b", "regular", 1)), later),
        _msg(_level("sku-a", 2), later + timedelta(seconds=1)),
        _msg(_level("sku-a", 5), later),  # older than the one before: ignored
        _msg(_allocated("o0", ("l1", "sku-a", "regular", 1), ("l2", "sku-b", "regular", 1))),  # a repeat
        _msg(inv.AllocationRejected(order_id="o2", reason="out_of_stock", line_ids=[])),  # o2 was decided
        _msg(inv.AllocationRejected(order_id="o3", reason="invalid_order", line_ids=[])),
    ]
    await batch_handlers.inventory_events(run, batch)
    await _one_at_a_time(run, single)
    assert _state(batch) == _state(single)
    assert [(type(e.payload).__name__, e.key) for e in batch.emitted] == [
        ("OrderAccepted", "o0"), ("OrderRejected", "o1"), ("OrderAccepted", "o2"), ("OrderRejected", "o3")]
    assert batch.stock.level[("sku-a", "wh-1")][0] == 2
    assert batch.stock.exhausted_at == {"sku-b": later, "sku-a": later}


async def test_an_outcome_for_an_unknown_order_raises_so_the_runtime_goes_one_by_one() -> None:
    unit = await _uow()
    with pytest.raises(Rejection) as caught:
        unknown = inv.AllocationRejected(order_id="nope", reason="out_of_stock", line_ids=[])
        await batch_handlers.inventory_events([_msg(unknown)], unit)
    assert caught.value.reason == "unknown_order"
