"""R29: the projected fill dates inventory derives from inbound supply (R28) re-date waiting lines.

When a waiting part's projected arrival passes the ship-by its line promised, the part is
re-dated (ship-by: the arrival day, or the next business day in the seller's region; delivery:
the transit after it, as R14 dates) and the buyer is told with ``BackorderDelayed`` (reason
``inbound_late``, the option to cancel). Dates only move later, so each slip is told once: a
repeated projection finds the line already re-dated. A part no inbound covers any more is not
re-dated blindly: the seller is told with ``BackorderUncovered``.

R30: a seller's auto-cancel policy (catalog's ``AutoCancelPolicySet``, off by default) cancels a
slipping line instead of re-dating it, once its new ship-by passes the ship-by first promised by
more than the policy's days, or at its second slip; the cancelled paid line requests its refund.
"""

from __future__ import annotations

from datetime import date
from itertools import groupby

from services.orders.domain import Order
from services.orders.handlers import _cancelled_line, aware_now
from services.orders.lines import Delay
from services.orders.ports import OrdersUoW
from services.orders.refunds import request_refunds
from shared.contract import catalog as cat
from shared.contract import inventory as inv
from shared.contract import orders as o
from shared.contract.topics import ORDERS_EVENTS_TOPIC as EVENTS
from shared.dates import DatingPolicy, add_business_days, deadline
from shared.regions import zone


def redate(order: Order, line_id: str, warehouse_id: str, projected_on: date, policy: DatingPolicy) -> Delay | None:
    """Move the line's waiting parts in ``warehouse_id`` to ship once the projected stock arrives, if that is
    later than promised; the delay, or None when the promise holds."""
    line = order.line(line_id)
    if line.state != "awaiting_stock":
        return None
    region = line.seller_region or order.region
    ship_by = add_business_days(projected_on, 0, region)
    before = line.backorder_dates()
    moved = False
    for part in line.parts:
        if part.waiting and part.warehouse_id == warehouse_id and ship_by > part.ship_by:
            part.ship_by = ship_by
            part.estimated_delivery = max(part.estimated_delivery, add_business_days(
                ship_by, policy.transit_for(order.region), order.region))
            moved = True
    if not moved or before is None:
        return None
    after = line.backorder_dates()
    assert after is not None
    line.due_at = deadline(after[0], zone(line.seller_timezone, region))
    return Delay(line, before[0], after[0], before[1], after[1])


async def backorder_projected(evt: inv.BackorderProjected, uow: OrdersUoW) -> None:
    """Re-date the lines whose projected arrival passed their promise; flag the uncovered ones (R29)."""
    parts = sorted(evt.parts, key=lambda p: (p.order_id, p.line_id, p.part_no))
    orders = await uow.orders.get_many(sorted({p.order_id for p in parts}), lock=True)
    for order_id, of_order in groupby(parts, key=lambda p: p.order_id):
        order = orders.get(order_id)
        if order is None:
            continue
        changed = False
        for part in of_order:
            if not any(line.line_id == part.line_id for line in order.lines):
                continue
            line = order.line(part.line_id)
            if part.projected_on is None:
                dates = line.backorder_dates()
                if line.state == "awaiting_stock" and dates is not None:
                    uow.emit(EVENTS, o.BackorderUncovered(
                        order_id=order_id, buyer_id=order.buyer_id, line_id=line.line_id, sku_id=line.sku_id,
                        seller_id=line.seller_id, warehouse_id=part.warehouse_id, ship_by=dates[0]), key=order_id)
                continue
            delay = redate(order, part.line_id, part.warehouse_id, part.projected_on, uow.dating)
            if delay is None:
                continue
            changed = True
            if await _auto_cancel(uow, order, delay):
                continue
            uow.emit(EVENTS, o.BackorderDelayed(
                order_id=order_id, buyer_id=order.buyer_id, line_id=line.line_id, sku_id=line.sku_id,
                previous_ship_by=delay.previous_ship_by, ship_by=delay.ship_by,
                previous_estimated_delivery=delay.previous_estimated_delivery,
                estimated_delivery=delay.estimated_delivery, reason="inbound_late", projected_on=part.projected_on,
            ), key=order_id)
        if changed:
            await uow.orders.save(order)


def should_cancel(policy: tuple[int | None, bool], slips: int, promised: date, ship_by: date) -> bool:
    """R30: the policy's days late passed (beyond the ship-by first promised), or the line's second slip."""
    days, second_slip = policy
    return (days is not None and (ship_by - promised).days > days) or (second_slip and slips >= 2)


async def _auto_cancel(uow: OrdersUoW, order: Order, delay: Delay) -> bool:
    """Count the slip; cancel the line when its seller's policy says so (R30). True when cancelled."""
    line = delay.line
    slips, promised = await uow.orders.record_slip(order.order_id, line.line_id, delay.previous_ship_by)
    policy = await uow.catalog.auto_cancel(line.seller_id) if line.seller_id else (None, False)
    if not should_cancel(policy, slips, promised, delay.ship_by):
        return False
    cancelled = order.cancel([line.line_id], "auto_cancel_policy", aware_now(uow), None)
    uow.emit(EVENTS, o.LinesCancelled(order_id=order.order_id, buyer_id=order.buyer_id,
                                      lines=[_cancelled_line(x) for x in cancelled], reason="auto_cancel_policy",
                                      status=order.status), key=order.order_id)
    request_refunds(uow, order, cancelled, "auto_cancel_policy")
    return True


async def auto_cancel_policy_set(evt: cat.AutoCancelPolicySet, uow: OrdersUoW) -> None:
    await uow.catalog.set_auto_cancel(evt.seller_id, evt.max_days_late, evt.cancel_at_second_slip)
