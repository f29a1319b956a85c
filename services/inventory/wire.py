"""The one edge where inventory's domain events (``events.py``) become ``inventory.events`` messages."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from services.inventory import events as ev
from services.inventory.ports import InventoryUow
from shared.cause import Cause
from shared.contract import inventory as inv
from shared.contract.envelope import Payload
from shared.contract.topics import INVENTORY_EVENTS_TOPIC as EVENTS


def message(event: ev.Event) -> tuple[Payload, str]:
    """The message telling ``event``, and its Kafka key (the order's or the SKU's id)."""
    match event:
        case ev.BackorderReleased():
            return inv.BackorderReleased(
                order_id=event.order_id, line_id=event.line_id, sku_id=event.sku_id, warehouse_id=event.warehouse_id,
                qty=event.qty, receipt_id=event.receipt_id, ship_from=event.ship_from), event.order_id
        case ev.LevelShown(level=level, view=view):
            return inv.StockChanged(
                sku_id=level.sku_id, warehouse_id=level.warehouse_id, on_hand=level.on_hand,
                allocated=level.allocated, backorder_limit=level.backorder_limit,
                backorder_allocated=level.backorder_allocated, available_to_promise=view.available_to_promise,
                total=view.total, sku_available_to_promise=view.sku_available_to_promise, sku_total=view.sku_total,
            ), level.sku_id
        case ev.LowStock():
            return inv.LowStock(
                sku_id=event.sku_id, seller_id=event.seller_id, available_to_promise=event.available_to_promise,
                backorder=event.total_available - event.available_to_promise, total_available=event.total_available,
                threshold=event.threshold), event.sku_id
        case ev.BackorderRanOut():
            return inv.BackorderStockExhausted(
                sku_id=event.sku_id, seller_id=event.seller_id, available_to_promise=event.available_to_promise,
                backorder_allocated=event.backorder_allocated), event.sku_id
        case ev.TransferPolicyChanged():
            return inv.TransferPolicySet(
                sku_id=event.sku_id, allow_transfers=event.allowed,
                warehouses=list(event.warehouses) if event.warehouses is not None else None), event.sku_id
        case ev.OrderAllocated():
            return inv.StockAllocated(order_id=event.order_id, lines=[
                inv.AllocatedLine(line_id=line_id, sku_id=sku_id, parts=[
                    inv.AllocatedPart(warehouse_id=p.warehouse_id, source=p.source, qty=p.qty) for p in parts])
                for line_id, sku_id, parts in event.lines]), event.order_id
        case ev.OrderRefused():
            return inv.AllocationRejected(order_id=event.order_id, reason=event.reason,
                                          line_ids=list(event.line_ids)), event.order_id
        case ev.BackorderProjected():
            return inv.BackorderProjected(sku_id=event.sku_id, parts=[
                inv.ProjectedPart(order_id=p.order_id, line_id=p.line_id, part_no=p.part_no,
                                  warehouse_id=p.warehouse_id, qty=p.qty, projected_on=p.projected_on,
                                  inbound_id=p.inbound_id)
                for p in event.parts]), event.sku_id
        case ev.ReceiptMismatch():
            return inv.ReceiptMismatch(
                receipt_id=event.receipt_id, inbound_id=event.inbound_id, sku_id=event.sku_id,
                warehouse_id=event.warehouse_id, qty=event.qty, reason=event.reason), event.sku_id
        case ev.PromiseChanged(unit=unit, seller=seller):
            return inv.PromiseChanged(
                sku_id=event.sku_id, orderable=unit.shown.orderable, label=unit.shown.label,
                available_regular=unit.available.regular, available_backorder=unit.available.backorder,
                handling_days=event.handling_days, dispatch_days=unit.dispatch_days, seller_region=seller.region,
                seller_timezone=seller.timezone, ship_by=unit.ship_by, estimated_delivery=unit.estimated_delivery,
                as_of=event.as_of), event.sku_id
    raise TypeError(f"no message tells {event!r}")


def publish(uow: InventoryUow, events: Iterable[ev.Event],
            cause_of: Callable[[ev.Event], Cause | None] | None = None) -> None:
    """Emit the messages telling ``events``, in order; ``cause_of`` an event, when not the message handled
    (a batch's events each have their own)."""
    for event in events:
        payload, key = message(event)
        if cause_of is None:
            uow.emit(EVENTS, payload, key=key)
            continue
        with uow.caused_by(cause_of(event)):
            uow.emit(EVENTS, payload, key=key)
