"""Orders batch handlers: ``async def handler(messages, uow)`` for a run of messages at once.

Each decides exactly as the per-message handlers in ``handlers.py`` would, one message after
the other, by the same steps; what a run saves is round trips: its orders and SKU terms are
read in one statement and its changes staged, to ride the batch's last statement. A refusal raises, and the
runtime then handles the run one message at a time with the per-message handlers, so only
the refused message is rejected (or dead-lettered).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from services.orders import domain
from services.orders.domain import Order
from services.orders.handlers import (
    accept,
    actor_of,
    aware_now,
    backordered_skus,
    emit_acceptance,
    emit_placed,
    emit_rejection,
    exhausted_skus,
    is_repeat,
    lost_lines,
    new_order,
    occurred_at,
    reject,
)
from services.orders.ports import OrdersUoW
from services.orders.views import SKU_WIDE, LostLine
from shared.contract import inventory as inv
from shared.contract import orders as o
from shared.domain import Rejection
from shared.messaging.decoding import Message

# ---------------------------------------------------------------- orders.commands


async def place_orders(messages: list[Message[o.PlaceOrder]], uow: OrdersUoW) -> None:
    """``place_order`` for a run of commands, with the same decisions and events: the run's orders
    and SKU terms are read in one go, the new orders written in one go. An order named twice in a
    run is seen as already placed the second time. A refusal raises: the runtime then handles the
    run one message at a time with ``place_order``, so only the refused command is rejected."""
    for m in messages:
        domain.check_may_place(actor_of(m.cause), m.payload.buyer_id)
    existing, known = await uow.orders_and_terms([m.payload.order_id for m in messages],
                                                 sorted({line.sku_id for m in messages for line in m.payload.lines}))
    new: list[tuple[Order, uuid.UUID | None]] = []
    for m in messages:
        cmd = m.payload
        if is_repeat(cmd, existing.get(cmd.order_id)):
            continue
        order = existing[cmd.order_id] = new_order(cmd, known, aware_now(uow), m.cause.received_at)
        new.append((order, m.cause.correlation_id))
        with uow.caused_by(m.cause):
            emit_placed(uow, order, cmd)
    await uow.orders.add_many(new)


# ---------------------------------------------------------------- inventory.events


async def _stock_changed(messages: list[Message[inv.StockChanged]], uow: OrdersUoW) -> None:
    """Regular stock levels (R18's "out of stock"); a batch is applied in one statement.

    Kept per warehouse, and for the whole SKU (as warehouse ``*``, which wins when present).
    """
    await uow.stock.levels(_levels(messages, aware_now(uow)))


def _levels(messages: list[Message[inv.StockChanged]], now: datetime) -> list[tuple[str, str, int, datetime]]:
    """The rows ``_stock_changed`` writes, only the newest per SKU and warehouse (as the store keeps)."""
    newest: dict[tuple[str, str], tuple[str, str, int, datetime]] = {}
    for m in messages:
        at = m.cause.occurred_at or now
        for row in ((m.payload.sku_id, m.payload.warehouse_id, m.payload.available_to_promise, at),
                    (m.payload.sku_id, SKU_WIDE, m.payload.sku_available_to_promise, at)):
            kept = newest.get(row[:2])
            if kept is None or kept[3] <= at:
                newest[row[:2]] = row
    return list(newest.values())


DECISIONS = ("StockAllocated", "AllocationRejected")


async def inventory_events(messages: list[Message[Any]], uow: OrdersUoW) -> None:
    """A run of ``StockAllocated``, ``AllocationRejected`` and ``StockChanged`` in arrival order, with
    the decisions and events of ``stock_allocated``, ``allocation_rejected`` and ``_stock_changed``.

    The run's orders are read and locked in one go (in key order), SKU terms in one query; each
    outcome is decided in memory in turn (a second outcome for an order is a repeat, as one at a
    time); then the orders, stock signals and levels are written in one statement each. A refusal
    raises: the runtime then handles the run one message at a time with the per-message handlers."""
    decisions = [m for m in messages if m.cause.message_type in DECISIONS]
    orders, known = await uow.orders_and_terms([m.payload.order_id for m in decisions], lock=True)
    changed: dict[str, Order] = {}
    exhausted: list[tuple[str, datetime]] = []
    lost: list[LostLine] = []
    for m in decisions:
        order = orders.get(m.payload.order_id)
        if order is None:
            raise Rejection("unknown_order", f"order {m.payload.order_id} does not exist")
        if isinstance(m.payload, inv.StockAllocated):
            acceptance = accept(order, m.payload, known, uow.dating, aware_now(uow))
            if acceptance is None:
                continue
            sku_ids = backordered_skus(m.payload)
            with uow.caused_by(m.cause):
                emit_acceptance(uow, order, acceptance)
        else:
            rejected = reject(order, m.payload, aware_now(uow))
            if rejected is None:
                continue
            sku_ids = exhausted_skus(order, m.payload)
            lost += lost_lines(order, m.payload, rejected, known, aware_now(uow))
            with uow.caused_by(m.cause):
                emit_rejection(uow, order, m.payload, rejected)
        changed[order.order_id] = order
        at = occurred_at(uow, m.cause)
        exhausted += [(sku_id, at) for sku_id in sku_ids]
    await uow.orders.save_many(list(changed.values()))
    await uow.stock.exhausted_many(exhausted)
    await uow.orders.record_lost_demand(lost)
    levels = [m for m in messages if m.cause.message_type == "StockChanged"]
    if levels:
        await _stock_changed(levels, uow)
