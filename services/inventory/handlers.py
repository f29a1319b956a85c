"""Inventory handlers: ``async def handler(message, uow)``; ``allocate_orders`` takes a batch.

Every handler locks the level rows it touches (``lock_levels``, in sku/warehouse order),
decides with the pure domain functions, then writes levels, parts and ledger rows and
emits its events, all in the runtime's transaction.
"""

from __future__ import annotations

from datetime import datetime

from services.inventory import domain
from services.inventory.domain import Level, LineRequest, Movement, Part, Policy
from services.inventory.repository import LevelSet
from services.inventory.unit_of_work import InventoryUnitOfWork
from shared.contract import catalog as cat
from shared.contract import inventory as inv
from shared.contract import orders as o
from shared.contract.topics import INVENTORY_EVENTS_TOPIC as EVENTS
from shared.domain import Rejection
from shared.messaging.consumer import Message
from shared.persistence.uow import Cause


def _cause_id(uow: InventoryUnitOfWork, cause: Cause | None = None) -> str:
    cause = cause or uow.cause
    return str(cause.event_id) if cause else "local"


def _actor(cause: Cause | None) -> str | None:
    return f"{cause.principal.kind}:{cause.principal.id}" if cause and cause.principal else None


async def _finish(uow: InventoryUnitOfWork, levels: LevelSet, movements: list[Movement],
                  cause: Cause | None = None) -> None:
    """Save changed levels and the ledger, then tell sellers the new levels and any low stock."""
    cause = cause or uow.cause
    changed = await uow.inventory.save_levels(levels)
    await uow.inventory.record(movements, _cause_id(uow, cause), _actor(cause))
    if not changed:
        return
    skus = sorted({lv.sku_id for lv in changed})
    policies = await uow.inventory.policies(skus)
    for level in changed:
        policy = policies.get(level.sku_id, Policy(level.sku_id))
        atp = domain.available_to_promise([level], policy)
        uow.emit(EVENTS, inv.StockChanged(
            sku_id=level.sku_id, warehouse_id=level.warehouse_id, on_hand=level.on_hand, allocated=level.allocated,
            backorder_limit=level.backorder_limit, backorder_allocated=level.backorder_allocated,
            available_to_promise=atp, total=level.free_regular + level.free_backorder,
        ), key=level.sku_id, cause=cause)
    for sku_id in skus:
        policy = policies.get(sku_id, Policy(sku_id))
        atp = domain.available_to_promise(levels.by_sku.get(sku_id, {}).values(), policy)
        alert, alerted = domain.low_stock_transition(policy, atp)
        if alerted != policy.low_stock_alerted:
            await uow.inventory.set_low_stock_alerted(sku_id, alerted)
        if alert:
            assert policy.low_stock_threshold is not None
            uow.emit(EVENTS, inv.LowStock(sku_id=sku_id, available_to_promise=atp,
                                          threshold=policy.low_stock_threshold), key=sku_id, cause=cause)


async def _check_seller(uow: InventoryUnitOfWork, sku_id: str) -> None:
    """A seller principal may only act on its own SKUs (R06a)."""
    principal = uow.cause.principal if uow.cause else None
    if principal is None or principal.kind != "seller":
        return
    policy = (await uow.inventory.policies([sku_id])).get(sku_id)
    if policy is None or policy.seller_id is None:
        raise Rejection("unknown_sku", f"SKU {sku_id} is not listed")
    if policy.seller_id != principal.id:
        raise Rejection("not_owner", f"SKU {sku_id} belongs to another seller")


async def _fill_from_free_stock(uow: InventoryUnitOfWork, level: Level, receipt_id: str | None = None
                                ) -> list[Movement]:
    """Free regular stock never sits while backorders wait: fill them first, oldest first (R11)."""
    if level.free_regular <= 0 or level.backorder_allocated <= 0:
        return []
    waiting = await uow.inventory.waiting(level.sku_id, level.warehouse_id)
    fills = domain.fill_waiting(level.free_regular, waiting)
    for fill in fills:
        part = fill.part
        if fill.whole:
            await uow.inventory.set_part_state(part.order_id, part.line_id, part.part_no, "filled")
        else:
            await uow.inventory.split_part(part, fill.qty, part.placed_at, level.sku_id, level.warehouse_id)
        uow.emit(EVENTS, inv.BackorderReleased(
            order_id=part.order_id, line_id=part.line_id, sku_id=level.sku_id, warehouse_id=level.warehouse_id,
            qty=fill.qty, receipt_id=receipt_id,
        ), key=part.order_id)
    return domain.apply_fills(level, fills)


# ------------------------------------------------------------------ commands


async def set_stock(cmd: inv.SetStock, uow: InventoryUnitOfWork) -> None:
    await _check_seller(uow, cmd.sku_id)
    levels = await uow.inventory.lock_levels([cmd.sku_id], [(cmd.sku_id, cmd.warehouse_id)], uow.warehouse_priority)
    level = levels.get(cmd.sku_id, cmd.warehouse_id)
    if cmd.on_hand < level.allocated:
        raise Rejection("count_below_allocated",
                        f"{level.allocated} units are allocated to orders; a count of {cmd.on_hand} is too low")
    movements = [domain.count(level, cmd.on_hand)]
    movements += await _fill_from_free_stock(uow, level)
    await _finish(uow, levels, movements)


async def receive_stock(cmd: inv.ReceiveStock, uow: InventoryUnitOfWork) -> None:
    await _check_seller(uow, cmd.sku_id)
    levels = await uow.inventory.lock_levels([cmd.sku_id], [(cmd.sku_id, cmd.warehouse_id)], uow.warehouse_priority)
    if not await uow.inventory.new_receipt(cmd.receipt_id, cmd.sku_id, cmd.warehouse_id, cmd.qty):
        return  # this receipt was booked already: a receipt id makes a restock idempotent
    level = levels.get(cmd.sku_id, cmd.warehouse_id)
    movements = [domain.receive(level, cmd.qty)]
    movements += await _fill_from_free_stock(uow, level, cmd.receipt_id)
    await _finish(uow, levels, movements)


async def set_stock_policy(cmd: inv.SetStockPolicy, uow: InventoryUnitOfWork) -> None:
    await _check_seller(uow, cmd.sku_id)
    await uow.inventory.set_stock_policy(cmd.sku_id, cmd.safety_stock, cmd.low_stock_threshold)
    levels = await uow.inventory.lock_levels([cmd.sku_id])
    policy = (await uow.inventory.policies([cmd.sku_id]))[cmd.sku_id]
    atp = domain.available_to_promise(levels.by_sku.get(cmd.sku_id, {}).values(), policy)
    alert, alerted = domain.low_stock_transition(policy, atp)
    if alerted:
        await uow.inventory.set_low_stock_alerted(cmd.sku_id, True)
    if alert:
        assert cmd.low_stock_threshold is not None
        uow.emit(EVENTS, inv.LowStock(sku_id=cmd.sku_id, available_to_promise=atp,
                                      threshold=cmd.low_stock_threshold), key=cmd.sku_id)


async def prioritize_backorder(cmd: inv.PrioritizeBackorder, uow: InventoryUnitOfWork) -> None:
    await _check_seller(uow, cmd.sku_id)
    await uow.inventory.lock_levels([cmd.sku_id])
    if await uow.inventory.set_priority(cmd.order_id, cmd.sku_id, cmd.priority) == 0:
        raise Rejection("nothing_waiting", f"order {cmd.order_id} has no waiting backorder of {cmd.sku_id}")


# ------------------------------------------------------------------ catalog events


async def on_listing_upserted(event: cat.ListingUpserted, uow: InventoryUnitOfWork) -> None:
    for sku_id in event.sku_ids:
        await uow.inventory.set_owner(sku_id, event.seller_id)


async def on_backorder_activated(event: cat.BackorderActivated, uow: InventoryUnitOfWork) -> None:
    await uow.inventory.set_backorder_enabled(event.sku_id, event.seller_id, True)
    wanted = {w.warehouse_id: w.qty for w in event.backorder_stock}
    ensure = [(event.sku_id, wh) for wh in wanted]
    levels = await uow.inventory.lock_levels([event.sku_id], ensure, uow.warehouse_priority)
    movements = []
    for warehouse_id, level in levels.by_sku.get(event.sku_id, {}).items():
        movement = domain.set_backorder_available(level, wanted.get(warehouse_id, 0))
        if movement.backorder_limit:
            movements.append(movement)
    await _finish(uow, levels, movements)


async def on_backorder_deactivated(event: cat.BackorderDeactivated, uow: InventoryUnitOfWork) -> None:
    # No new backorder allocation; parts already allocated from backorder stay valid (R06).
    await uow.inventory.set_backorder_enabled(event.sku_id, event.seller_id, False)


async def on_listing_type_changed(event: cat.ListingTypeChanged, uow: InventoryUnitOfWork) -> None:
    if event.listing_type != "backorder":
        await uow.inventory.set_backorder_enabled(event.sku_id, event.seller_id, False)


# ------------------------------------------------------------------ order events


async def allocate_orders(messages: list[Message[o.OrderPlaced]], uow: InventoryUnitOfWork) -> None:
    """Allocate a batch of orders in one transaction, oldest placement first (R07-R09, R19).

    A batch mixes partitions, so the order of arrival is not the order of placement."""
    orders = sorted(messages, key=lambda m: m.payload.placed_at)
    seen = await uow.inventory.decided([m.payload.order_id for m in orders])
    sku_ids = sorted({line.sku_id for m in orders for line in m.payload.lines})
    levels = await uow.inventory.lock_levels(sku_ids)
    policies = await uow.inventory.policies(sku_ids)
    decisions: list[tuple[str, bool, datetime]] = []
    parts_rows: list[dict[str, object]] = []
    movements_by_cause: list[tuple[Cause, list[Movement]]] = []
    for message in orders:
        order = message.payload
        if order.order_id in seen:
            continue  # a replayed OrderPlaced: this order was decided already
        seen.add(order.order_id)
        lines = [LineRequest(line.line_id, line.sku_id, line.qty) for line in order.lines]
        if len({line.line_id for line in lines}) != len(lines):
            _reject(uow, order.order_id, "invalid_order", [], message.cause)
            decisions.append((order.order_id, False, order.placed_at))
            continue
        allocation = domain.allocate_order(order.order_id, lines, levels.by_sku, policies)
        decisions.append((order.order_id, allocation.accepted, order.placed_at))
        if not allocation.accepted:
            _reject(uow, order.order_id, "out_of_stock", allocation.rejected_lines, message.cause)
            continue
        parts_rows += _part_rows(order, lines, allocation.lines)
        movements_by_cause.append((message.cause, domain.allocation_movements(order.order_id, lines, allocation)))
        uow.emit(EVENTS, inv.StockAllocated(order_id=order.order_id, lines=[
            inv.AllocatedLine(line_id=line.line_id, sku_id=line.sku_id, parts=[
                inv.AllocatedPart(warehouse_id=p.warehouse_id, source=p.source, qty=p.qty)  # type: ignore[arg-type]
                for p in allocation.lines[line.line_id]
            ]) for line in lines
        ]), key=order.order_id, cause=message.cause)
    await uow.inventory.record_decisions(decisions)
    await uow.inventory.insert_parts(parts_rows)
    for cause, movements in movements_by_cause:
        await uow.inventory.record(movements, str(cause.event_id), _actor(cause))
    await _finish(uow, levels, [], cause=messages[-1].cause if messages else None)


def _reject(uow: InventoryUnitOfWork, order_id: str, reason: str, line_ids: list[str], cause: Cause) -> None:
    uow.emit(EVENTS, inv.AllocationRejected(order_id=order_id, reason=reason, line_ids=line_ids),
             key=order_id, cause=cause)


def _part_rows(order: o.OrderPlaced, lines: list[LineRequest], parts: dict[str, list[Part]]) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for line in lines:
        for number, part in enumerate(parts[line.line_id], start=1):
            rows.append({
                "order_id": order.order_id, "line_id": line.line_id, "part_no": number, "sku_id": line.sku_id,
                "warehouse_id": part.warehouse_id, "source": part.source, "qty": part.qty,
                "state": "allocated" if part.source == domain.REGULAR else "waiting", "placed_at": order.placed_at,
            })
    return rows


async def on_lines_cancelled(event: o.LinesCancelled, uow: InventoryUnitOfWork) -> None:
    """Give cancelled lines' stock back to the ledgers it came from (R17)."""
    held = await uow.inventory.held(event.order_id, [line.line_id for line in event.lines])
    if not held:
        return
    levels = await uow.inventory.lock_levels([p.sku_id for p in held])
    movements = []
    touched: dict[tuple[str, str], Level] = {}
    for part in held:
        level = levels.get(part.sku_id, part.warehouse_id)
        movements.append(domain.release(level, part))
        await uow.inventory.set_part_state(part.order_id, part.line_id, part.part_no, "released")
        touched[(part.sku_id, part.warehouse_id)] = level
    for level in touched.values():
        movements += await _fill_from_free_stock(uow, level)
    await _finish(uow, levels, movements)


async def on_lines_shipped(event: o.LinesShipped, uow: InventoryUnitOfWork) -> None:
    held = [p for p in await uow.inventory.held(event.order_id, list(event.line_ids)) if p.state != "waiting"]
    if not held:
        return
    levels = await uow.inventory.lock_levels([p.sku_id for p in held])
    movements = []
    for part in held:
        movements.append(domain.ship(levels.get(part.sku_id, part.warehouse_id), part))
        await uow.inventory.set_part_state(part.order_id, part.line_id, part.part_no, "shipped")
    await _finish(uow, levels, movements)
