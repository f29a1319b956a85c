"""R30: every cancelled line that was paid for leads to exactly one ``RefundRequested``.

An order is paid when it is accepted (its lines are allocated and dated); a rejected or still
pending order was never charged, so its lines are refused without a refund. A line is cancelled
once (its state machine has no way back), and the refund is requested in that same transaction,
whoever cancelled it: the buyer, the seller or the seller's auto-cancel policy.
"""

from __future__ import annotations

from collections.abc import Iterable

from services.orders.domain import Order
from services.orders.lines import Line
from services.orders.ports import OrdersUoW
from shared.contract import orders as o
from shared.contract.topics import ORDERS_EVENTS_TOPIC as EVENTS

LINE_CANCELLED = "line_cancelled"


def paid(line: Line) -> bool:
    """Accepted lines carry their allocated parts; a line never accepted was never charged."""
    return bool(line.parts)


def request_refunds(uow: OrdersUoW, order: Order, cancelled: Iterable[Line], why: str) -> None:
    for line in cancelled:
        if paid(line):
            uow.emit(EVENTS, o.RefundRequested(
                order_id=order.order_id, buyer_id=order.buyer_id, line_id=line.line_id, sku_id=line.sku_id,
                reason=LINE_CANCELLED, detail=why[:64],
            ), key=order.order_id)
