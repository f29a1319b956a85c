"""Inventory handlers: ``async def handler(message, uow)``; ``allocate_orders`` takes a batch.

Every handler first locks the SKUs it touches (``uow.inventory.lock``: SKU rows, then
their level rows, in key order), decides with the pure domain functions, then writes
levels, parts and ledger rows and emits its events, all in the runtime's transaction.
Allocation parts are only read for update once their SKU is locked, so no two handlers
ever wait on each other in a cycle, however many instances run.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime

from services.inventory import domain
from services.inventory.allocation import allocate_order, allocation_movements
from services.inventory.domain import Level, LineRequest, Movement, Part
from services.inventory.inbound import book_receipt, check_owner, reproject
from services.inventory.ports import InventoryUow
from services.inventory.promise_events import announce_promises
from services.inventory.stock import Locked, Why
from shared.contract import catalog as cat
from shared.contract import inventory as inv
from shared.contract import orders as o
from shared.contract.topics import INVENTORY_EVENTS_TOPIC as EVENTS
from shared.domain import Rejection
from shared.messaging.decoding import Message
from shared.persistence.uow import Cause

Entries = list[tuple[Movement, Why]]


def _why(cause: Cause | None, actor: str | None = None) -> Why:
    """The cause of ledger rows (R12): the message, and who acted (its principal, else ``actor``)."""
    if cause is None:
        return Why("local", "", actor)
    principal = f"{cause.principal.kind}:{cause.principal.id}" if cause.principal else None
    return Why(str(cause.event_id), cause.message_type, principal or actor)


def _entries(movements: Iterable[Movement], why: Why) -> Entries:
    return [(movement, why) for movement in movements]


async def _finish(uow: InventoryUow, locked: Locked, entries: Entries, *, announce: Iterable[str] = ()) -> None:
    """Save the changed levels and the ledger rows, then tell sellers the levels that moved, and any
    low stock (R10).

    A ``PromiseChanged`` goes for a SKU whose storefront label or handling time changed (R25).
    A ``StockChanged`` goes for every warehouse of a SKU in ``announce``, and, of a SKU whose levels
    changed, for every warehouse whose own figures changed: its levels, or what it can promise or
    show now (safety stock is per SKU, so a warehouse that did not move can have less to promise
    when another one did). The SKU-wide figures ride on each of them, so the newest message of a
    SKU always carries them; a warehouse whose own figures did not change is not repeated."""
    changed = await uow.inventory.save_levels(locked)
    await uow.inventory.record(entries)
    announced = set(announce)
    skus = sorted({lv.sku_id for lv in changed} | announced)
    for sku_id in skus:
        levels = sorted(locked.sku_levels(sku_id), key=lambda lv: lv.warehouse_id)
        policy = locked.policy(sku_id)
        shown = {} if sku_id in announced else _shown_as_read(locked, sku_id)
        for level in levels:
            view = domain.seller_view(level, levels, policy)
            if shown.get(level.warehouse_id) == _shown(level, view):
                continue
            uow.emit(EVENTS, inv.StockChanged(
                sku_id=level.sku_id, warehouse_id=level.warehouse_id, on_hand=level.on_hand,
                allocated=level.allocated, backorder_limit=level.backorder_limit,
                backorder_allocated=level.backorder_allocated, available_to_promise=view.available_to_promise,
                total=view.total, sku_available_to_promise=view.sku_available_to_promise, sku_total=view.sku_total,
            ), key=level.sku_id)
    for sku_id in skus:
        await _check_low_stock(uow, locked, sku_id)
    await announce_promises(uow, locked, skus)
    await reproject(uow, skus, locked)  # R28: the queue or its stock moved


def _shown(level: Level, view: domain.SellerView) -> tuple[int, ...]:
    """What a warehouse's own ``StockChanged`` figures are."""
    return (level.on_hand, level.allocated, level.backorder_limit, level.backorder_allocated,
            view.available_to_promise, view.total)


def _shown_as_read(locked: Locked, sku_id: str) -> dict[str, tuple[int, ...]]:
    levels, policy = locked.as_read(sku_id)
    return {lv.warehouse_id: _shown(lv, domain.seller_view(lv, levels, policy)) for lv in levels}


async def _check_low_stock(uow: InventoryUow, locked: Locked, sku_id: str) -> None:
    """One ``LowStock`` per downward crossing of the SKU's threshold by its total available stock, in stock
    plus backorder (R10, R32); one ``BackorderStockExhausted`` when its backorder stock runs out (R32)."""
    policy = locked.policy(sku_id)
    levels = locked.sku_levels(sku_id)
    atp = domain.available_to_promise(levels, policy)
    total = domain.total_available(levels, policy)
    alert, alerted = domain.low_stock_transition(policy, total)
    if alerted != policy.low_stock_alerted:
        await uow.inventory.set_low_stock_alerted(sku_id, alerted)
        locked.policies[sku_id] = domain.with_alerted(policy, alerted)
    if alert:
        assert policy.low_stock_threshold is not None
        uow.emit(EVENTS, inv.LowStock(sku_id=sku_id, seller_id=policy.seller_id, available_to_promise=atp,
                                      backorder=total - atp, total_available=total,
                                      threshold=policy.low_stock_threshold), key=sku_id)
    before, policy_before = locked.as_read(sku_id)
    if domain.backorder_ran_out(before, policy_before, levels, policy):
        uow.emit(EVENTS, inv.BackorderStockExhausted(
            sku_id=sku_id, seller_id=policy.seller_id, available_to_promise=atp,
            backorder_allocated=sum(lv.backorder_allocated for lv in levels)), key=sku_id)


def _check_seller(uow: InventoryUow, locked: Locked, sku_id: str) -> None:
    """A seller principal may only act on its own SKUs (R06a); services and operators on any."""
    principal = uow.cause.principal if uow.cause else None
    if principal is None or principal.kind != "seller":
        return
    owner = locked.policy(sku_id).seller_id
    if owner is None:
        raise Rejection("unknown_sku", f"SKU {sku_id} is not listed")
    if owner != principal.id:
        raise Rejection("not_owner", f"SKU {sku_id} belongs to another seller")


async def _fill_waiting(uow: InventoryUow, locked: Locked, level: Level, *, received: int = 0,
                        receipt_id: str | None = None) -> list[Movement]:
    """Free units go to the waiting backorders of this SKU and warehouse first, in queue order
    (R11, R19); each order filled is told so with ``BackorderReleased``.

    Where the seller allows transfers and this warehouse is in the SKU's pool (R31), they go to the
    pool's one queue instead: the oldest (or highest-priority) waiting part in any of its warehouses,
    which then ships from this one. The parts are locked after the SKU and its levels, as everywhere."""
    sku_levels = locked.sku_levels(level.sku_id)
    policy = locked.policy(level.sku_id)
    pool = policy.transfer_pool(lv.warehouse_id for lv in sku_levels)
    if level.warehouse_id in pool:
        waiting = sum(lv.backorder_allocated for lv in sku_levels if lv.warehouse_id in pool)
        budget = domain.fill_budget(level, sku_levels, policy, received, waiting=waiting)
        queue = await uow.inventory.waiting_pooled(level.sku_id, sorted(pool), budget) if budget > 0 else []
    else:
        budget = domain.fill_budget(level, sku_levels, policy, received)
        queue = await uow.inventory.waiting(level.sku_id, level.warehouse_id, budget) if budget > 0 else []
    fills = domain.fill_waiting(budget, queue)
    for fill in fills:
        part = fill.part
        waited_in = part.warehouse_id or level.warehouse_id
        if waited_in != level.warehouse_id:
            await uow.inventory.fill_from(part, fill.qty, level.warehouse_id)  # R31: a transfer
        elif fill.whole:
            await uow.inventory.set_part_state(part, domain.FILLED)
        else:
            await uow.inventory.split_part(part, fill.qty)
        uow.emit(EVENTS, inv.BackorderReleased(
            order_id=part.order_id, line_id=part.line_id, sku_id=level.sku_id, warehouse_id=waited_in,
            qty=fill.qty, receipt_id=receipt_id, ship_from=level.warehouse_id,
        ), key=part.order_id)
    return domain.apply_fills(level, fills, locked.by_sku[level.sku_id])


async def _fill_sku(uow: InventoryUow, locked: Locked, sku_id: str, *, first: str | None = None,
                    received: int = 0, receipt_id: str | None = None) -> list[Movement]:
    """Fill the waiting backorders of every warehouse of a SKU, ``first`` (the one whose stock
    moved) first. Safety stock is per SKU, so units arriving in one warehouse can make free
    units of another promisable: those go to its waiting orders before any new order."""
    movements: list[Movement] = []
    for level in sorted(locked.sku_levels(sku_id), key=lambda lv: (lv.warehouse_id != first, lv.warehouse_id)):
        mine = level.warehouse_id == first
        movements += await _fill_waiting(uow, locked, level, received=received if mine else 0,
                                         receipt_id=receipt_id if mine else None)
    return movements


# ------------------------------------------------------------------ commands


async def set_stock(cmd: inv.SetStock, uow: InventoryUow) -> None:
    """A stock count sets on-hand (R10); units above the SKU's safety stock go to waiting backorders."""
    locked = await uow.inventory.lock([cmd.sku_id], ensure_levels=[(cmd.sku_id, cmd.warehouse_id)])
    _check_seller(uow, locked, cmd.sku_id)
    level = locked.level(cmd.sku_id, cmd.warehouse_id)
    movements = [domain.count(level, cmd.on_hand)]
    movements += await _fill_sku(uow, locked, cmd.sku_id, first=cmd.warehouse_id)
    await _finish(uow, locked, _entries(movements, _why(uow.cause)))


async def receive_stock(cmd: inv.ReceiveStock, uow: InventoryUow) -> None:
    """A receipt adds to on-hand and fills waiting backorders first, oldest first (R11); its id
    makes it idempotent."""
    locked = await uow.inventory.lock([cmd.sku_id], ensure_levels=[(cmd.sku_id, cmd.warehouse_id)])
    _check_seller(uow, locked, cmd.sku_id)
    if not await uow.inventory.new_receipt(cmd.receipt_id, cmd.sku_id, cmd.warehouse_id, cmd.qty):
        return  # this receipt was booked already
    await book_receipt(uow, cmd)
    level = locked.level(cmd.sku_id, cmd.warehouse_id)
    movements = [domain.receive(level, cmd.qty)]
    movements += await _fill_sku(uow, locked, cmd.sku_id, first=cmd.warehouse_id, received=cmd.qty,
                                 receipt_id=cmd.receipt_id)
    await _finish(uow, locked, _entries(movements, _why(uow.cause)))


async def set_stock_policy(cmd: inv.SetStockPolicy, uow: InventoryUow) -> None:
    """Safety stock and low-stock threshold of a SKU (R10). A lower safety stock frees units for
    waiting backorders; a new threshold is checked at once."""
    locked = await uow.inventory.lock([cmd.sku_id], ensure_skus=True)
    _check_seller(uow, locked, cmd.sku_id)
    await uow.inventory.set_stock_policy(cmd.sku_id, cmd.safety_stock, cmd.low_stock_threshold)
    locked.policies[cmd.sku_id] = replace(locked.policy(cmd.sku_id), safety_stock=cmd.safety_stock,
                                          low_stock_threshold=cmd.low_stock_threshold, low_stock_alerted=False)
    movements = await _fill_sku(uow, locked, cmd.sku_id)
    await _finish(uow, locked, _entries(movements, _why(uow.cause)), announce=[cmd.sku_id])


async def prioritize_backorder(cmd: inv.PrioritizeBackorder, uow: InventoryUow) -> None:
    """An explicit seller priority for an order's waiting parts of a SKU (R19)."""
    locked = await uow.inventory.lock([cmd.sku_id])
    _check_seller(uow, locked, cmd.sku_id)
    if await uow.inventory.set_priority(cmd.order_id, cmd.sku_id, cmd.priority) == 0:
        raise Rejection("nothing_waiting", f"order {cmd.order_id} has no backorder of {cmd.sku_id} waiting for stock")
    await reproject(uow, [cmd.sku_id], locked)  # R28: the queue's order changed


async def set_transfer_policy(cmd: inv.SetTransferPolicy, uow: InventoryUow) -> None:
    """May the SKU's stock fill backorders waiting in another warehouse (R31). A policy that makes no
    sense is refused before anything changes. Allowing transfers lets free units already in stock (as
    far as the SKU's ATP allows) fill the pool's oldest waiting parts at once, and re-projects the queue."""
    locked = await uow.inventory.lock([cmd.sku_id])
    check_owner(uow, locked, cmd.sku_id)
    known = [wh for wh in cmd.warehouses or () if await uow.inventory.warehouse_known(wh)]
    domain.check_transfer_policy(cmd.allow_transfers, cmd.warehouses, known)
    pool = tuple(sorted(cmd.warehouses)) if cmd.warehouses is not None else None
    await uow.inventory.set_transfer_policy(cmd.sku_id, cmd.allow_transfers, pool)
    locked.policies[cmd.sku_id] = replace(locked.policy(cmd.sku_id), transfers_allowed=cmd.allow_transfers,
                                          transfer_warehouses=pool)
    uow.emit(EVENTS, inv.TransferPolicySet(sku_id=cmd.sku_id, allow_transfers=cmd.allow_transfers,
                                           warehouses=list(pool) if pool is not None else None), key=cmd.sku_id)
    movements = await _fill_sku(uow, locked, cmd.sku_id)
    await _finish(uow, locked, _entries(movements, _why(uow.cause)))
    await reproject(uow, [cmd.sku_id], locked)  # the pool walks one queue now, or no longer


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
    locked = await uow.inventory.lock([event.sku_id], ensure_levels=[(event.sku_id, wh) for wh in wanted])
    await uow.inventory.set_backorder_enabled(event.sku_id, event.seller_id, True)
    await uow.inventory.set_handling_days(event.sku_id, event.handling_days)
    await uow.inventory.save_seller(event.seller_id, event.region, event.timezone)
    locked.policies[event.sku_id] = replace(locked.policy(event.sku_id), seller_id=event.seller_id,
                                            backorder_enabled=True, handling_days=event.handling_days)
    movements = []
    for level in sorted(locked.sku_levels(event.sku_id), key=lambda lv: lv.warehouse_id):
        movement = domain.set_backorder_available(level, wanted.get(level.warehouse_id, 0))
        if movement.backorder_limit:
            movements.append(movement)
    await _finish(uow, locked, _entries(movements, _why(uow.cause, f"seller:{event.seller_id}")),
                  announce=[event.sku_id])


async def on_backorder_deactivated(event: cat.BackorderDeactivated, uow: InventoryUow) -> None:
    """No new backorder allocation; parts already allocated from backorder stay valid (R06)."""
    await _stop_backorder(uow, event.sku_id, event.seller_id)


async def on_listing_type_changed(event: cat.ListingTypeChanged, uow: InventoryUow) -> None:
    if event.listing_type != "backorder":
        await _stop_backorder(uow, event.sku_id, event.seller_id)


async def _stop_backorder(uow: InventoryUow, sku_id: str, seller_id: str) -> None:
    locked = await uow.inventory.lock([sku_id])
    if not locked.policy(sku_id).backorder_enabled:
        return  # unknown here, or not on backorder
    await uow.inventory.set_backorder_enabled(sku_id, seller_id, False)
    locked.policies[sku_id] = replace(locked.policy(sku_id), backorder_enabled=False)
    await _finish(uow, locked, [], announce=[sku_id])  # sellers see the backorder units go


# ------------------------------------------------------------------ order events


async def allocate_orders(messages: list[Message[o.OrderPlaced]], uow: InventoryUow) -> None:
    """Allocate a batch of orders in one transaction, in order of placement (R07-R09).

    A batch mixes partitions, so arrival is not placement: orders are sorted by
    ``placed_at`` (stable, so ties keep their arrival order). The decisions already taken
    are read after the SKU locks, so a concurrent instance's decision on the same order is
    seen; an order is decided once (a replayed ``OrderPlaced`` changes nothing)."""
    orders = sorted(messages, key=lambda m: m.payload.placed_at)
    locked = await uow.inventory.lock({line.sku_id for m in orders for line in m.payload.lines})
    seen = await uow.inventory.decided([m.payload.order_id for m in orders])
    decisions: list[tuple[str, bool, datetime]] = []
    parts_rows: list[dict[str, object]] = []
    entries: Entries = []
    for message in orders:
        order = message.payload
        if order.order_id in seen:
            continue
        seen.add(order.order_id)
        lines = [LineRequest(line.line_id, line.sku_id, line.qty) for line in order.lines]
        if len({line.line_id for line in lines}) != len(lines):
            with uow.caused_by(message.cause):
                _reject(uow, order.order_id, "invalid_order", [])
            decisions.append((order.order_id, False, order.placed_at))
            continue
        allocation = allocate_order(order.order_id, lines, locked.by_sku, locked.policies)
        decisions.append((order.order_id, allocation.accepted, order.placed_at))
        if not allocation.accepted:
            with uow.caused_by(message.cause):
                _reject(uow, order.order_id, "out_of_stock", allocation.rejected_lines)
            continue
        parts_rows += _part_rows(order, lines, allocation.lines)
        entries += _entries(allocation_movements(order.order_id, lines, allocation),
                            _why(message.cause, f"buyer:{order.buyer_id}"))
        with uow.caused_by(message.cause):
            uow.emit(EVENTS, inv.StockAllocated(order_id=order.order_id, lines=[
                inv.AllocatedLine(line_id=line.line_id, sku_id=line.sku_id, parts=[
                    inv.AllocatedPart(warehouse_id=p.warehouse_id, source=p.source, qty=p.qty)
                    for p in allocation.lines[line.line_id]
                ]) for line in lines
            ]), key=order.order_id)
    await uow.inventory.record_decisions(decisions)
    await uow.inventory.insert_parts(parts_rows)
    # the levels and alerts the batch moved are announced as caused by its last order
    with uow.caused_by(orders[-1].cause if orders else uow.cause):
        await _finish(uow, locked, entries)


def _reject(uow: InventoryUow, order_id: str, reason: str, line_ids: list[str]) -> None:
    uow.emit(EVENTS, inv.AllocationRejected(order_id=order_id, reason=reason, line_ids=line_ids),
             key=order_id)


def _part_rows(order: o.OrderPlaced, lines: Sequence[LineRequest],
               parts: dict[str, list[Part]]) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for line in lines:
        for number, part in enumerate(parts[line.line_id], start=1):
            rows.append({
                "order_id": order.order_id, "line_id": line.line_id, "part_no": number, "sku_id": line.sku_id,
                "warehouse_id": part.warehouse_id, "source": part.source, "qty": part.qty,
                "state": domain.ALLOCATED if part.source == domain.REGULAR else domain.WAITING,
                "placed_at": order.placed_at,
            })
    return rows


async def on_lines_cancelled(event: o.LinesCancelled, uow: InventoryUow) -> None:
    """Give cancelled lines' stock back to the ledgers it came from (R17); freed regular units
    go to waiting backorders first."""
    line_ids = [line.line_id for line in event.lines]
    peek = await uow.inventory.held(event.order_id, line_ids)
    if not peek:
        return
    locked = await uow.inventory.lock({p.sku_id for p in peek})
    movements: list[Movement] = []
    freed: set[tuple[str, str]] = set()
    for part in await uow.inventory.held(event.order_id, line_ids, lock=True):
        movements.append(domain.release(locked.level(part.sku_id, part.held_in), part))
        await uow.inventory.set_part_state(part, domain.RELEASED)
        freed.add((part.sku_id, part.held_in))
    for sku_id, warehouse_id in sorted(freed):
        movements += await _fill_sku(uow, locked, sku_id, first=warehouse_id)
    await _finish(uow, locked, _entries(movements, _why(uow.cause, f"buyer:{event.buyer_id}")))


async def on_lines_shipped(event: o.LinesShipped, uow: InventoryUow) -> None:
    """Shipped parts leave the warehouse (R16); of a split line (R27) only the units named, from its parts
    in stock (regular, then filled), a part split when it ships in part."""
    peek = await uow.inventory.held(event.order_id, event.line_ids)
    if not peek:
        return
    locked = await uow.inventory.lock({p.sku_id for p in peek})
    movements = []
    units = {q.line_id: q.qty for q in event.quantities}  # R27: only these units of these lines
    for part in await uow.inventory.held(event.order_id, event.line_ids, lock=True):
        if part.line_id in units:
            if part.state == domain.WAITING or units[part.line_id] <= 0:
                continue  # units still waiting for stock stay held
            take = min(part.qty, units[part.line_id])
            units[part.line_id] -= take
            if take < part.qty:
                movements.append(domain.ship(locked.level(part.sku_id, part.held_in), replace(part, qty=take)))
                await uow.inventory.ship_some(part, take)
                continue
        movements.append(domain.ship(locked.level(part.sku_id, part.held_in), part))
        await uow.inventory.set_part_state(part, domain.SHIPPED)
    await _finish(uow, locked, _entries(movements, _why(uow.cause)))
