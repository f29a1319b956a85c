"""An order's statuses and the moves between them (R13): the vocabulary the order machine in ``domain`` keeps to."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, get_args

#: the wire's ``OrderStatus`` and the ``orders.status`` CHECK list, held in step by a test
OrderStatus = Literal[
    "pending", "awaiting_shipment", "partially_shipped", "shipped", "delivered", "rejected", "cancelled"
]
ORDER_STATUSES: tuple[OrderStatus, ...] = get_args(OrderStatus)

#: Every order status change the machine may make (a status may also stay as it is).
ORDER_TRANSITIONS: Mapping[OrderStatus, frozenset[OrderStatus]] = {
    "pending": frozenset({"awaiting_shipment", "rejected", "cancelled"}),
    "awaiting_shipment": frozenset({"partially_shipped", "shipped", "cancelled"}),
    "partially_shipped": frozenset({"shipped", "delivered"}),
    "shipped": frozenset({"delivered"}),
    "delivered": frozenset(),
    "rejected": frozenset(),
    "cancelled": frozenset(),
}
