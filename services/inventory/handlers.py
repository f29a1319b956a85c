"""Inventory handlers: ``async def handler(message, uow)``; ``allocate_orders`` takes a batch.

Each one loads the stock it touches (``uow.inventory.lock``: SKU rows, then their level rows, in key
order), calls the aggregate (``stock.Stock``) to decide, then saves levels, parts and ledger rows and
publishes the aggregate's events (``wire.publish``), all in the runtime's transaction. Allocation parts
are only read for update once their SKU is locked, so no two handlers ever wait on each other in a
cycle, however many instances run.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from services.inventory import domain, wire
from services.inventory.domain import LineRequest, Movement
from services.inventory.events import OrderAllocated, OrderRefused
from services.inventory.inbound import book_receipt, reproject
from services.inventory.ports import InventoryUow
from services.inventory.promise_events import announce_promises
from services.inventory.stock import OrderRequest, Stock, Why
from shared.cause import Cause
from shared.contract import catalog as cat
from shared.contract import inventory as inv
from shared.contract import orders as o
from shared.domain import Actor, Rejection
from shared.messaging.decoding import Message

Entries = list[tuple[Movement, Why]]


def _why(cause: Cause | None, actor: str | None = None) -> Why:
    """The cause of ledger rows (R12): the message, and who acted (its principal, else ``actor``)."""
    if cause is None:
        return Why("local", "", actor)
    principal = f"{cause.principal.kind}:{cause.principal.id}" if cause.principal else None
    return Why(str(cause.event_id), cause.message_type, principal or actor)


def _entries(movements: Iterable[Movement], why: Why) -> Entries:
    return [(movement, why) for movement in movements]


def _actor(uow: InventoryUow) -> Actor | None:
    return uow.cause.principal if uow.cause else None


async def _finish(uow: InventoryUow, stock: Stock, entries: Entries, *, announce: Iterable[str] = (),
                  reproject_too: Iterable[str] = (), decisions: Sequence[tuple[str, bool, datetime]] = (),
                  parts: Sequence[dict[str, Any]] = ()) -> None:
    """Save the changed levels and the ledger rows (and an allocation's ``decisions`` and ``parts``) in one
    statement; tell sellers the levels that moved and any low stock (R10), and the promises that changed (R25);
    re-project the queues whose stock moved, and ``reproject_too`` (R28). ``announce``: SKUs whose every
    warehouse is told (``Stock.settle``)."""
    changed = await uow.inventory.save(stock, entries, decisions, parts)
    skus, flipped = stock.settle(changed, announce)
    for sku_id in flipped:
        await uow.inventory.set_low_stock_alerted(sku_id, stock.policy(sku_id).low_stock_alerted)
    wire.publish(uow, stock.take_events())
    await announce_promises(uow, stock, skus)
    # R28: the queue or its stock moved; a SKU that had nothing to project when last projected, and whose
    # inbounds have not changed since, still has nothing: its queue is not read
    await reproject(uow, {s for s in skus if stock.policy(s).may_project} | set(reproject_too), stock)


async def _fill_sku(uow: InventoryUow, stock: Stock, sku_id: str, *, first: str | None = None,
                    received: int = 0, receipt_id: str | None = None) -> list[Movement]:
    """Free units go to the SKU's waiting backorders first, in queue order (R11, R19, R31), warehouse by
    warehouse (``Stock.fill_order``); each fill is written before the next queue is read."""
    movements: list[Movement] = []
    for warehouse_id in stock.fill_order(sku_id, first):
        mine = warehouse_id == first
        request = stock.fill_request(sku_id, warehouse_id, received if mine else 0)
        if request is None:
            continue
        queue = await (uow.inventory.waiting_pooled(sku_id, list(request.pool), request.budget) if request.pool
                       else uow.inventory.waiting(sku_id, warehouse_id, request.budget))
        fills, moved = stock.fill(request, queue, receipt_id if mine else None)
        for fill in fills:
            if fill.transfer:
                await uow.inventory.fill_from(fill.part, fill.qty, warehouse_id)  # R31
            elif fill.whole:
                await uow.inventory.set_part_state(fill.part, domain.FILLED)
            else:
                await uow.inventory.split_part(fill.part, fill.qty)
        movements += moved
    return movements


# ------------------------------------------------------------------ commands


async def set_stock(cmd: inv.SetStock, uow: InventoryUow) -> None:
    """A stock count sets on-hand (R10); units above the SKU's safety stock go to waiting backorders."""
    stock = await uow.inventory.lock([cmd.sku_id], ensure_levels=[(cmd.sku_id, cmd.warehouse_id)])
    stock.authorize(cmd.sku_id, _actor(uow))
    movements = [stock.count(cmd.sku_id, cmd.warehouse_id, cmd.on_hand)]
    movements += await _fill_sku(uow, stock, cmd.sku_id, first=cmd.warehouse_id)
    await _finish(uow, stock, _entries(movements, _why(uow.cause)))


async def receive_stock(cmd: inv.ReceiveStock, uow: InventoryUow) -> None:
    """A receipt adds to on-hand and fills waiting backorders first, oldest first (R11); its id
    makes it idempotent."""
    stock = await uow.inventory.lock([cmd.sku_id], ensure_levels=[(cmd.sku_id, cmd.warehouse_id)])
    stock.authorize(cmd.sku_id, _actor(uow))
    if not await uow.inventory.new_receipt(cmd.receipt_id, cmd.sku_id, cmd.warehouse_id, cmd.qty):
        return  # this receipt was booked already
    await book_receipt(uow, cmd)
    movements = [stock.receive(cmd.sku_id, cmd.warehouse_id, cmd.qty)]
    movements += await _fill_sku(uow, stock, cmd.sku_id, first=cmd.warehouse_id, received=cmd.qty,
                                 receipt_id=cmd.receipt_id)
    await _finish(uow, stock, _entries(movements, _why(uow.cause)))


async def set_stock_policy(cmd: inv.SetStockPolicy, uow: InventoryUow) -> None:
    """Safety stock and low-stock threshold of a SKU (R10). A lower safety stock frees units for
    waiting backorders; a new threshold is checked at once."""
    stock = await uow.inventory.lock([cmd.sku_id], ensure_skus=True)
    stock.authorize(cmd.sku_id, _actor(uow))
    await uow.inventory.set_stock_policy(cmd.sku_id, cmd.safety_stock, cmd.low_stock_threshold)
    stock.set_stock_policy(cmd.sku_id, cmd.safety_stock, cmd.low_stock_threshold)
    movements = await _fill_sku(uow, stock, cmd.sku_id)
    await _finish(uow, stock, _entries(movements, _why(uow.cause)), announce=[cmd.sku_id])


async def prioritize_backorder(cmd: inv.PrioritizeBackorder, uow: InventoryUow) -> None:
    """An explicit seller priority for an order's waiting parts of a SKU (R19)."""
    stock = await uow.inventory.lock([cmd.sku_id])
    stock.authorize(cmd.sku_id, _actor(uow))
    if await uow.inventory.set_priority(cmd.order_id, cmd.sku_id, cmd.priority) == 0:
        raise Rejection("nothing_waiting", f"order {cmd.order_id} has no backorder of {cmd.sku_id} waiting for stock")
    await reproject(uow, [cmd.sku_id], stock)  # R28: the queue's order changed


async def set_transfer_policy(cmd: inv.SetTransferPolicy, uow: InventoryUow) -> None:
    """May the SKU's stock fill backorders waiting in another warehouse (R31). A policy that makes no
    sense is refused before anything changes. Allowing transfers lets free units already in stock (as
    far as the SKU's ATP allows) fill the pool's oldest waiting parts at once, and re-projects the queue."""
    stock = await uow.inventory.lock([cmd.sku_id])
    stock.authorize(cmd.sku_id, _actor(uow), must_be_listed=True)
    known = [wh for wh in cmd.warehouses or () if await uow.inventory.warehouse_known(wh)]
    pool = stock.set_transfer_policy(cmd.sku_id, cmd.allow_transfers, cmd.warehouses, known)
    await uow.inventory.set_transfer_policy(cmd.sku_id, cmd.allow_transfers, pool)
    movements = await _fill_sku(uow, stock, cmd.sku_id)
    # the pool walks one queue now, or no longer: re-projected even when no level moved
    await _finish(uow, stock, _entries(movements, _why(uow.cause)), reproject_too=[cmd.sku_id])


# ------------------------------------------------------------------ catalog events


async def on_seller_registered(event: cat.SellerRegistered, uow: InventoryUow) -> None:
    """Where the seller dates its parts, for promises (R24)."""
    await uow.inventory.save_seller(event.seller_id, event.region, event.timezone)


async def on_listing_upserted(event: cat.ListingUpserted, uow: InventoryUow) -> None:
    await uow.inventory.lock(event.sku_ids, ensure_skus=True)
    for sku_id in sorted(set(event.sku_ids)):
        await uow.inventory.set_owner(sku_id, event.seller_id)


async def on_backorder_activated(event: cat.BackorderActivated, uow: InventoryUow) -> None:
    """The SKU is on backorder: per warehouse, ``qty`` more units may be sold on backorder (R06)."""
    wanted = {w.warehouse_id: w.qty for w in event.backorder_stock}
    stock = await uow.inventory.lock([event.sku_id], ensure_levels=[(event.sku_id, wh) for wh in wanted])
    await uow.inventory.set_backorder_enabled(event.sku_id, event.seller_id, True)
    await uow.inventory.set_handling_days(event.sku_id, event.handling_days)
    await uow.inventory.save_seller(event.seller_id, event.region, event.timezone)
    movements = stock.activate_backorder(event.sku_id, event.seller_id, event.handling_days, wanted)
    await _finish(uow, stock, _entries(movements, _why(uow.cause, f"seller:{event.seller_id}")),
                  announce=[event.sku_id])


async def on_backorder_deactivated(event: cat.BackorderDeactivated, uow: InventoryUow) -> None:
    """No new backorder allocation; parts already allocated from backorder stay valid (R06)."""
    await _stop_backorder(uow, event.sku_id, event.seller_id)


async def on_listing_type_changed(event: cat.ListingTypeChanged, uow: InventoryUow) -> None:
    if event.listing_type != "backorder":
        await _stop_backorder(uow, event.sku_id, event.seller_id)


async def _stop_backorder(uow: InventoryUow, sku_id: str, seller_id: str) -> None:
    stock = await uow.inventory.lock([sku_id])
    if not stock.stop_backorder(sku_id):
        return  # unknown here, or not on backorder
    await uow.inventory.set_backorder_enabled(sku_id, seller_id, False)
    await _finish(uow, stock, [], announce=[sku_id])  # sellers see the backorder units go


# ------------------------------------------------------------------ order events


async def allocate_orders(messages: list[Message[o.OrderPlaced]], uow: InventoryUow) -> None:
    """Allocate a batch of orders in one transaction, in order of placement (R07-R09).

    A batch mixes partitions, so arrival is not placement: orders are sorted by
    ``placed_at`` (stable, so ties keep their arrival order). The decisions already taken
    are read with the SKU locks; one a concurrent instance takes meanwhile is refused by the
    decisions' key, and the batch done again; an order is decided once (a replayed
    ``OrderPlaced`` changes nothing)."""
    placed = sorted(messages, key=lambda m: m.payload.placed_at)
    stock, seen = await uow.inventory.lock_and_decided({line.sku_id for m in placed for line in m.payload.lines},
                                                       [m.payload.order_id for m in placed])
    decisions = stock.allocate([OrderRequest(m.payload.order_id, m.payload.placed_at, tuple(
        LineRequest(line.line_id, line.sku_id, line.qty) for line in m.payload.lines)) for m in placed], seen)
    message_of: dict[str, Message[o.OrderPlaced]] = {}
    for m in placed:
        message_of.setdefault(m.payload.order_id, m)  # a replay in the batch is not the one decided
    entries = [(movement, _why(message_of[d.order_id].cause, f"buyer:{message_of[d.order_id].payload.buyer_id}"))
               for d in decisions for movement in d.movements]
    wire.publish(uow, stock.take_events(), lambda e: message_of[e.order_id].cause
                 if isinstance(e, OrderAllocated | OrderRefused) else None)
    # the levels and alerts the batch moved are announced as caused by its last order
    with uow.caused_by(placed[-1].cause if placed else uow.cause):
        await _finish(uow, stock, entries, decisions=[(d.order_id, d.accepted, d.placed_at) for d in decisions],
                      parts=[vars(part) for d in decisions for part in d.parts])


async def on_lines_cancelled(event: o.LinesCancelled, uow: InventoryUow) -> None:
    """Give cancelled lines' stock back to the ledgers it came from (R17); freed regular units
    go to waiting backorders first."""
    line_ids = [line.line_id for line in event.lines]
    peek = await uow.inventory.held(event.order_id, line_ids)
    if not peek:
        return
    stock = await uow.inventory.lock({p.sku_id for p in peek})
    movements: list[Movement] = []
    freed: set[tuple[str, str]] = set()
    for part in await uow.inventory.held(event.order_id, line_ids, lock=True):
        movements.append(stock.release(part))
        await uow.inventory.set_part_state(part, domain.RELEASED)
        freed.add((part.sku_id, part.held_in))
    for sku_id, warehouse_id in sorted(freed):
        movements += await _fill_sku(uow, stock, sku_id, first=warehouse_id)
    await _finish(uow, stock, _entries(movements, _why(uow.cause, f"buyer:{event.buyer_id}")))


async def on_lines_shipped(event: o.LinesShipped, uow: InventoryUow) -> None:
    """Shipped parts leave the warehouse (R16); of a split line (R27) only the units named (``Stock.ship``)."""
    peek = await uow.inventory.held(event.order_id, event.line_ids)
    if not peek:
        return
    stock = await uow.inventory.lock({p.sku_id for p in peek})
    held = await uow.inventory.held(event.order_id, event.line_ids, lock=True)
    shipped = stock.ship(held, {q.line_id: q.qty for q in event.quantities})
    for part, qty, _ in shipped:
        if qty < part.qty:
            await uow.inventory.ship_some(part, qty)
        else:
            await uow.inventory.set_part_state(part, domain.SHIPPED)
    await _finish(uow, stock, _entries([movement for _, _, movement in shipped], _why(uow.cause)))
