"""Order, inventory and catalog events as notices (R20, R21, R26, R29, R32): the one module where what
travels on Kafka (pydantic contract messages) becomes the domain's own types (``domain.Notice``,
``domain.LineState``). Pure: no I/O. What makes a notice the same one again (its revision) is decided here,
from the facts; how an id is made of it is ``domain.notification_id``.
"""

from __future__ import annotations

from collections.abc import Mapping

from services.notifications.domain import Item, LineState, Notice
from shared.contract import inventory as inv
from shared.contract import orders as o


def lines_from_accepted(event: o.OrderAccepted) -> list[LineState]:
    """Each accepted line with its backordered quantity and the latest dates of its backorder parts."""
    states = []
    for line in event.lines:
        backorder = [p for p in line.parts if p.source == "backorder"]
        dated = backorder or line.parts
        states.append(
            LineState(
                line_id=line.line_id,
                sku_id=line.sku_id,
                qty=line.qty,
                backorder_qty=sum(p.qty for p in backorder),
                ship_by=max((p.ship_by for p in dated), default=None),
                estimated_delivery=max((p.estimated_delivery for p in dated), default=None),
            )
        )
    return states



def apply_delay(line: LineState, event: o.BackorderDelayed) -> LineState:
    return LineState(line.line_id, line.sku_id, line.qty, line.backorder_qty, event.ship_by,
                     event.estimated_delivery)



def notice_accepted(event: o.OrderAccepted) -> Notice | None:
    """R20: an accepted order with backordered lines; nothing when every line is in stock."""
    items = tuple(Item.of(line) for line in lines_from_accepted(event) if line.backordered)
    if not items:
        return None
    return Notice(event.order_id, event.buyer_id, "backorder_accepted", "1", items)


def notice_released(event: o.LinesReleased, known: Mapping[str, LineState]) -> Notice:
    """R21: a restock filled backordered lines; they ship by the released dates."""
    items = []
    for line in event.lines:
        state = known.get(line.line_id)
        items.append(Item(
            line.line_id, line.sku_id, state.qty if state else line.qty, line.qty, line.ship_by,
            line.estimated_delivery,
        ))
    # a later release of another quantity or with other dates is news; the same one again is not
    revision = ";".join(f"{i.line_id}:{i.backorder_qty}:{i.ship_by}:{i.estimated_delivery}"
                        for i in sorted(items, key=lambda i: i.line_id))
    return Notice(event.order_id, event.buyer_id, "backorder_released", revision, tuple(items))


def notice_shipped(event: o.LinesShipped, known: Mapping[str, LineState]) -> Notice | None:
    """R21: backordered lines shipped. Lines that were never on back order are not this service's news.
    Each shipment is told, a split line's too (R27: ``partial`` says how many units shipped now)."""
    items = tuple(Item.of(known[line_id]) for line_id in event.line_ids
                  if line_id in known and known[line_id].backordered)
    if not items:
        return None
    units = {q.line_id: q.qty for q in event.quantities}
    partial = "; ".join(f"{units[i.line_id]} of {i.qty} units of {i.sku_id or 'line ' + i.line_id} shipped now"
                        for i in items if i.line_id in units)
    return Notice(event.order_id, event.buyer_id, "shipped", event.tracking_number, items,
                  {"tracking_number": event.tracking_number, "status": event.status, "partial": partial})


def notice_late(event: o.OrderShipmentLate, known: Mapping[str, LineState]) -> Notice:
    """R15, R21: a backordered line missed its ship-by; the buyer is offered to cancel it. A line is late only
    while it has not shipped, and until then R17 lets the buyer cancel it: the offer always stands."""
    state = known.get(event.line_id)
    item = Item(event.line_id, event.sku_id, state.qty if state else 0, state.backorder_qty if state else 0,
                event.ship_by, event.estimated_delivery)
    return Notice(event.order_id, event.buyer_id, "late", event.ship_by.isoformat(), (item,))


def notice_delayed(event: o.BackorderDelayed, known: Mapping[str, LineState]) -> Notice:
    """R21: a delay alert with the old and the new dates; each new promise is a new alert."""
    state = known.get(event.line_id)
    item = Item(
        event.line_id, event.sku_id, state.qty if state else 0, state.backorder_qty if state else 0,
        event.ship_by, event.estimated_delivery, event.previous_ship_by, event.previous_estimated_delivery,
    )
    revision = f"{event.ship_by.isoformat()}/{event.estimated_delivery.isoformat()}"
    return Notice(event.order_id, event.buyer_id, "delayed", revision, (item,), {"reason": event.reason})


def notice_cancelled(event: o.LinesCancelled, known: Mapping[str, LineState]) -> Notice | None:
    """R21: backordered lines were cancelled."""
    items = tuple(Item.of(known[line.line_id]) for line in event.lines
                  if line.line_id in known and known[line.line_id].backordered)
    if not items:
        return None
    return Notice(event.order_id, event.buyer_id, "cancelled", "1", items,
                  {"reason": event.reason, "status": event.status})


#: why a replacement is refused (``RefundRequested.detail``), as the buyer reads it
AVAILABILITY = {"sku_on_backorder": "on back order", "out_of_stock": "out of stock"}


def notice_refunded(event: o.RefundRequested, known: Mapping[str, LineState]) -> Notice:
    """R18, R21: a replacement cannot be offered (the SKU is on back order or out of stock): a refund."""
    state = known.get(event.line_id)
    item = Item.of(state) if state else Item(event.line_id, event.sku_id or "", 0, 0, None, None)
    availability = AVAILABILITY.get(event.detail or "", "on back order or out of stock")
    return Notice(event.order_id, event.buyer_id, "refunded", "1", (item,),
                  {"reason": event.reason, "availability": availability, "detail": event.detail or ""})


#: why an order was rejected (``OrderRejected.reason``), as the buyer reads it (R26)
REJECTION_REASONS = {
    "out_of_stock": "the items are out of stock",
    "invalid_order": "the order named the same line twice",
}


def rejection_words(reason: str) -> str:
    return REJECTION_REASONS.get(reason, reason.replace("_", " "))


def notice_rejected(event: o.OrderRejected) -> Notice | None:
    """R26: the order could not be accepted, told with its reason in words; once per order (R22)."""
    if event.buyer_id is None:
        return None  # nobody to tell: orders always names the buyer
    items = tuple(Item(line_id, "", 0, 0, None, None) for line_id in sorted(set(event.line_ids)))
    return Notice(event.order_id, event.buyer_id, "rejected", "1", items,
                  {"reason": event.reason.code, "reason_words": rejection_words(event.reason.code)})


# ---------------------------------------------------------------- what to tell a seller (R32)


def notice_low_stock(event: inv.LowStock, alert_id: str) -> Notice | None:
    """R32: the SKU's total available stock (in stock plus backorder) fell below the seller's threshold.
    ``alert_id``: the alert event's id, the crossing's identity. Nothing when inventory names no seller."""
    if event.seller_id is None:
        return None
    total = event.total_available if event.total_available is not None else event.available_to_promise
    return Notice(None, None, "low_stock", alert_id, (), {
        "in_stock": str(event.available_to_promise), "backorder": str(event.backorder),
        "total_available": str(total), "threshold": str(event.threshold),
    }, seller_id=event.seller_id, sku_id=event.sku_id)


def notice_backorder_exhausted(event: inv.BackorderStockExhausted, alert_id: str) -> Notice | None:
    """R32: the SKU's backorder stock ran out; once per crossing (``alert_id``, as ``notice_low_stock``)."""
    if event.seller_id is None:
        return None
    return Notice(None, None, "backorder_exhausted", alert_id, (), {
        "in_stock": str(event.available_to_promise), "backorder_allocated": str(event.backorder_allocated),
    }, seller_id=event.seller_id, sku_id=event.sku_id)


def notice_uncovered(event: o.BackorderUncovered) -> Notice | None:
    """R29, R32: no inbound covers a waiting line any more; its seller is asked to act. Told once per
    warehouse and ship-by still promised."""
    if event.seller_id is None:
        return None
    item = Item(event.line_id, event.sku_id, 0, 0, event.ship_by, None)
    return Notice(event.order_id, None, "backorder_uncovered", f"{event.warehouse_id}/{event.ship_by.isoformat()}",
                  (item,), {"warehouse_id": event.warehouse_id}, seller_id=event.seller_id, sku_id=event.sku_id)
