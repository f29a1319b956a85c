"""An order line and its state machine (R13-R17). Pure: no I/O.

A line holds the parts inventory allocated to it (where its units come from: regular stock or
backorder) and the dates promised for each. Its state only moves along ``LINE_TRANSITIONS``;
the order aggregate (``domain.Order``) moves it and derives the order's status from it.

Line states::

    pending ──accept──▶ awaiting_stock ──release──▶ ready_to_ship ──ship──▶ shipped ──deliver──▶ delivered
       │    (backorder part)            (all backorder qty released)  ▲
       │                                                              │
       └──accept (regular parts only)─────────────────────────────────┘
    pending ──reject──▶ rejected
    pending | awaiting_stock | ready_to_ship ──cancel──▶ cancelled

A line whose in-stock units shipped apart (R27, ``shipments``) keeps its state (awaiting_stock
or ready_to_ship: what is left still waits or is ready) and is *partially shipped* until its last
unit ships; it can no longer be cancelled.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal

from shared.contract.common import StockSource
from shared.domain import Rejection

#: a line's states and a replacement's outcomes: the ``order_lines`` CHECK lists, held in step by a test
LineState = Literal["pending", "awaiting_stock", "ready_to_ship", "shipped", "delivered", "cancelled", "rejected"]
ReplacementOutcome = Literal["refund", "replacement"]
OPEN_LINE_STATES = frozenset({"pending", "awaiting_stock", "ready_to_ship"})
SHIPPED_LINE_STATES = frozenset({"shipped", "delivered"})

#: Every line state change the machine may make (a state may also stay as it is).
LINE_TRANSITIONS: Mapping[LineState, frozenset[LineState]] = {
    "pending": frozenset({"awaiting_stock", "ready_to_ship", "rejected", "cancelled"}),
    "awaiting_stock": frozenset({"ready_to_ship", "cancelled"}),
    "ready_to_ship": frozenset({"shipped", "cancelled"}),
    "shipped": frozenset({"delivered"}),
    "delivered": frozenset(),
    "cancelled": frozenset(),
    "rejected": frozenset(),
}


class IllegalTransition(AssertionError):
    """The aggregate tried a change its own machine forbids: a bug, never a user error."""


@dataclass(frozen=True)
class AllocatedQty:
    """One allocated part, as inventory reported it."""

    warehouse_id: str
    source: StockSource
    qty: int


@dataclass
class Part:
    part_no: int
    warehouse_id: str
    source: StockSource
    qty: int
    ship_by: date
    estimated_delivery: date
    released_qty: int = 0

    @property
    def waiting(self) -> int:
        """Backorder units not yet filled by a restock."""
        return self.qty - self.released_qty if self.source == "backorder" else 0


@dataclass
class Line:
    line_id: str
    sku_id: str
    qty: int
    seller_id: str | None = None
    state: LineState = "pending"
    parts: list[Part] = field(default_factory=list)
    seller_region: str | None = None
    seller_timezone: str | None = None
    handling_days: int | None = None
    #: the SLA deadline of the line's backorder parts (R15); None without backorder parts
    due_at: datetime | None = None
    #: set once, by the SLA clock, when the deadline passed unshipped
    late_at: datetime | None = None
    shipped_at: datetime | None = None
    tracking_number: str | None = None
    delivered_at: datetime | None = None
    cancelled_at: datetime | None = None
    cancel_reason: str | None = None
    #: R18 outcome of a replacement request: ``refund`` or ``replacement``
    replacement: ReplacementOutcome | None = None
    #: R27: each shipment of some of the line's units, (tracking number, units), oldest first
    shipments: list[tuple[str, int]] = field(default_factory=list)

    @property
    def shipped_qty(self) -> int:
        """Units shipped by split shipments (R27); a line shipped whole has shipped all of them."""
        return self.qty if self.is_shipped else sum(qty for _, qty in self.shipments)

    @property
    def in_stock_qty(self) -> int:
        """Units that may ship now (R27): regular ones and released backordered ones, not shipped yet."""
        return sum(p.qty - p.waiting for p in self.parts) - self.shipped_qty

    @property
    def partially_shipped(self) -> bool:
        """Some units shipped, not all (R27)."""
        return not self.is_shipped and self.shipped_qty > 0

    def check_shippable(self, order_id: str, qty: int | None) -> None:
        """May the line ship whole (``qty`` None: every unit left, all in stock, R16) or ``qty`` of its
        units (R27: at most those left, and only units in stock)?"""
        if self.is_shipped:
            raise Rejection("already_shipped", f"line {self.line_id} was shipped already")
        if self.state == "cancelled":
            raise Rejection("line_cancelled", f"line {self.line_id} is cancelled")
        if self.state == "rejected":
            raise Rejection("order_rejected", f"order {order_id} was rejected")
        if self.state == "pending":
            raise Rejection("not_accepted", f"order {order_id} is not accepted yet")
        if qty is None and self.state == "awaiting_stock":
            raise Rejection(
                "awaiting_stock", f"line {self.line_id} waits for {self.waiting} backordered units to be restocked"
            )
        if qty is None:
            return
        if qty > self.qty - self.shipped_qty:
            raise Rejection("exceeds_line", f"line {self.line_id} has {self.qty - self.shipped_qty} units left "
                                            f"to ship, not {qty}")
        if qty > self.in_stock_qty:
            raise Rejection("not_released", f"line {self.line_id} has {self.in_stock_qty} units in stock to ship; "
                                             f"the rest wait for a restock")

    def ship_units(self, tracking_number: str, qty: int, now: datetime) -> None:
        self.shipments.append((tracking_number, qty))
        if self.shipped_qty == self.qty:
            self._move("shipped")
            self.shipped_at, self.tracking_number = now, tracking_number

    @property
    def has_backorder(self) -> bool:
        return any(p.source == "backorder" for p in self.parts)

    @property
    def waiting(self) -> int:
        return sum(p.waiting for p in self.parts)

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_LINE_STATES

    @property
    def is_shipped(self) -> bool:
        return self.state in SHIPPED_LINE_STATES

    def backorder_dates(self) -> tuple[date, date] | None:
        """The line's backorder ship-by and estimated delivery (the latest of its backorder parts)."""
        parts = [p for p in self.parts if p.source == "backorder"]
        if not parts:
            return None
        return max(p.ship_by for p in parts), max(p.estimated_delivery for p in parts)

    def dates(self) -> tuple[date, date] | None:
        """The dates the buyer was promised for the whole line (the latest of all its parts)."""
        if not self.parts:
            return None
        return max(p.ship_by for p in self.parts), max(p.estimated_delivery for p in self.parts)

    def _move(self, state: LineState) -> None:
        if state != self.state and state not in LINE_TRANSITIONS[self.state]:
            raise IllegalTransition(f"line {self.line_id}: {self.state} -> {state}")
        self.state = state


@dataclass(frozen=True)
class Delay:
    """A backordered line's promised dates moved later (a rolling backorder)."""

    line: Line
    previous_ship_by: date
    ship_by: date
    previous_estimated_delivery: date
    estimated_delivery: date
