"""The order aggregate and its status machine (R13-R18). Pure: no I/O.

Every operation validates first and mutates only when everything holds, so a refused
command (a ``Rejection``) leaves the order exactly as it was. The order's status is never
set directly: it is derived from its lines' states after each change and checked against
``ORDER_TRANSITIONS``, so an illegal order transition is a bug that fails loudly.

The lines themselves, their parts and their state machine are in ``lines.py``.

Order status, from its lines (cancelled lines left out, R16)::

    no active line → cancelled; all rejected → rejected; any pending → pending;
    all delivered → delivered; all shipped → shipped; some shipped, or some units of a line
    (R27) → partially_shipped;
    else awaiting_shipment.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from services.orders.lines import (
    SHIPPED_LINE_STATES,
    AllocatedQty,
    Delay,
    IllegalTransition,
    Line,
    Part,
    ReplacementOutcome,
)
from services.orders.statuses import ORDER_TRANSITIONS, OrderStatus
from shared.dates import DatingPolicy, deadline, part_dates
from shared.domain import Rejection
from shared.regions import zone

BACK_ORDER_TAG = "back_order"


@dataclass(frozen=True)
class Actor:
    """Who sends a command (the envelope's principal). ``None`` principals are trusted internal callers."""

    kind: str
    id: str

    @property
    def is_buyer(self) -> bool:
        return self.kind == "buyer"

    @property
    def is_seller(self) -> bool:
        return self.kind == "seller"


@dataclass(frozen=True)
class SkuTerms:
    """What orders knows, from the catalog, about a SKU's seller when it dates a line."""

    seller_id: str | None
    region: str
    timezone: str
    handling_days: int | None
    listing_type: str = "regular"


@dataclass(frozen=True)
class Acceptance:
    accepted: list[Line]
    #: lines cancelled before their allocation arrived: their stock must be given back now
    cancelled_before_allocation: list[Line]


@dataclass(frozen=True)
class ReplacementDecision:
    outcome: ReplacementOutcome
    detail: str | None = None  # why no replacement: "sku_on_backorder" | "out_of_stock"


def derive_status(lines: Sequence[Line]) -> OrderStatus:
    """The order status implied by its lines' states (R13, R16)."""
    active = [line.state for line in lines if line.state != "cancelled"]
    if not active:
        return "cancelled"
    if all(s == "rejected" for s in active):
        return "rejected"
    if any(s == "pending" for s in active):
        return "pending"
    if all(s == "delivered" for s in active):
        return "delivered"
    if all(s in SHIPPED_LINE_STATES for s in active):
        return "shipped"
    if any(s in SHIPPED_LINE_STATES for s in active) or any(line.partially_shipped for line in lines):
        return "partially_shipped"
    return "awaiting_shipment"


@dataclass
class Order:
    order_id: str
    buyer_id: str
    buyer_email: str
    region: str
    locale: str
    timezone: str | None
    placed_at: datetime
    lines: list[Line]
    status: OrderStatus = "pending"
    #: when the allocation outcome (accepted or rejected) was applied; a second one is a duplicate
    decided_at: datetime | None = None
    reject_reason: str | None = None
    #: when the PlaceOrder command entered Kafka (its record's timestamp): where the decision latency starts
    received_at: datetime | None = None

    # ------------------------------------------------------------------ views

    @property
    def tags(self) -> list[str]:
        """``back_order`` while any line that is not cancelled has a backorder part (R13)."""
        return [BACK_ORDER_TAG] if any(line.has_backorder for line in self.lines if line.state != "cancelled") else []

    def line(self, line_id: str) -> Line:
        for line in self.lines:
            if line.line_id == line_id:
                return line
        raise Rejection("unknown_line", f"order {self.order_id} has no line {line_id}")

    def _lines(self, line_ids: Iterable[str]) -> list[Line]:
        return [self.line(line_id) for line_id in dict.fromkeys(line_ids)]

    def same_request(self, buyer_id: str, lines: Sequence[tuple[str, str, int]]) -> bool:
        """Is a PlaceOrder with these facts a retry of the one that created this order?"""
        return buyer_id == self.buyer_id and list(lines) == [(ln.line_id, ln.sku_id, ln.qty) for ln in self.lines]

    def _restate(self) -> None:
        status = derive_status(self.lines)
        if status != self.status and status not in ORDER_TRANSITIONS[self.status]:
            raise IllegalTransition(f"order {self.order_id}: {self.status} -> {status}")
        self.status = status

    # ------------------------------------------------------------------ who may act

    def check_buyer_or_seller(self, actor: Actor | None, lines: Sequence[Line], action: str) -> None:
        """A buyer acts on its own orders only; a seller on its own lines only (R06a)."""
        if actor is None or not (actor.is_buyer or actor.is_seller):
            return
        if actor.is_buyer and actor.id != self.buyer_id:
            raise Rejection("not_owner", f"order {self.order_id} belongs to another buyer")
        if actor.is_seller:
            foreign = [line.line_id for line in lines if line.seller_id != actor.id]
            if foreign:
                raise Rejection("not_owner", f"seller {actor.id} cannot {action} lines {foreign} of another seller")

    def check_seller(self, actor: Actor | None, lines: Sequence[Line], action: str) -> None:
        """Only the seller (or an operator or service) may ship, and only its own lines (R06a)."""
        if actor is not None and actor.is_buyer:
            raise Rejection("forbidden", f"a buyer cannot {action} lines")
        self.check_buyer_or_seller(actor, lines, action)

    # ------------------------------------------------------------------ allocation outcome

    def accept(
        self,
        allocation: Mapping[str, Sequence[AllocatedQty]],
        terms: Callable[[str], SkuTerms],
        policy: DatingPolicy,
        now: datetime,
    ) -> Acceptance | None:
        """Date every part and move lines on (R13, R14). ``None`` if the outcome was applied already."""
        if self.decided_at is not None:
            return None
        expected = {line.line_id for line in self.lines}
        if set(allocation) != expected:
            raise Rejection("invalid_allocation", f"allocation names lines {sorted(allocation)}, order has "
                                                  f"{sorted(expected)}")
        for line in self.lines:
            parts = allocation[line.line_id]
            if sum(p.qty for p in parts) != line.qty or any(p.qty <= 0 for p in parts):
                raise Rejection("invalid_allocation", f"line {line.line_id}: parts do not add up to {line.qty}")
        accepted: list[Line] = []
        late_cancelled: list[Line] = []
        for line in self.lines:
            sku = terms(line.sku_id)
            line.seller_id = sku.seller_id or line.seller_id
            line.seller_region, line.seller_timezone, line.handling_days = sku.region, sku.timezone, sku.handling_days
            line.parts = [self._dated(i, part, line, policy) for i, part in enumerate(allocation[line.line_id])]
            if line.state == "cancelled":
                late_cancelled.append(line)
                continue
            backorder = line.backorder_dates()
            if backorder is not None:
                line.due_at = deadline(backorder[0], zone(line.seller_timezone, line.seller_region or self.region))
            line._move("awaiting_stock" if line.waiting else "ready_to_ship")
            accepted.append(line)
        self.decided_at = now
        self._restate()
        return Acceptance(accepted, late_cancelled)

    def _dated(self, part_no: int, part: AllocatedQty, line: Line, policy: DatingPolicy) -> Part:
        dates = part_dates(policy, self.placed_at, seller_region=line.seller_region,
                           seller_timezone=line.seller_timezone, buyer_region=self.region, source=part.source,
                           handling_days=line.handling_days)
        return Part(part_no, part.warehouse_id, part.source, part.qty, dates.ship_by, dates.estimated_delivery)

    def reject(self, reason: str, now: datetime) -> list[Line] | None:
        """Allocation failed (R08). Returns the rejected lines; ``None`` if the outcome was applied already."""
        if self.decided_at is not None:
            return None
        rejected = [line for line in self.lines if line.state == "pending"]
        for line in rejected:
            line._move("rejected")
        self.decided_at = now
        self.reject_reason = reason
        self._restate()
        return rejected

    # ------------------------------------------------------------------ restock, ship, deliver

    def release(self, line_id: str, warehouse_id: str, qty: int) -> Line | None:
        """A restock filled ``qty`` backorder units of a line in a warehouse (R11).

        Returns the line when this release made it ready to ship, else ``None``. Releases for
        a line that no longer waits (cancelled, already released) change nothing.
        """
        line = self.line(line_id)
        if line.state != "awaiting_stock":
            return None
        parts = [p for p in line.parts if p.warehouse_id == warehouse_id and p.waiting > 0]
        if sum(p.waiting for p in parts) < qty:
            raise Rejection(
                "release_exceeds_backorder",
                f"line {line_id} waits for {sum(p.waiting for p in parts)} units in {warehouse_id}, released {qty}",
            )
        left = qty
        for part in parts:
            take = min(left, part.waiting)
            part.released_qty += take
            left -= take
        if line.waiting:
            return None
        line._move("ready_to_ship")
        self._restate()
        return line

    def ship(self, line_ids: Sequence[str], tracking_number: str, now: datetime, actor: Actor | None,
             quantities: Mapping[str, int] | None = None) -> list[Line]:
        """Ship whole lines (split shipments, R16) and some units of lines (``quantities``, R27). Every
        check passes before anything changes. Empty if this exact shipment was recorded already."""
        units = dict(quantities or {})
        lines = self._lines([*line_ids, *units])
        self.check_seller(actor, lines, "ship")

        def recorded(line: Line) -> bool:
            return ((line.is_shipped and line.tracking_number == tracking_number)
                    or (tracking_number, units.get(line.line_id)) in line.shipments)

        if all(recorded(line) for line in lines):
            return []
        for line in lines:
            line.check_shippable(self.order_id, units.get(line.line_id))
        for line in lines:
            if line.line_id in units:
                line.ship_units(tracking_number, units[line.line_id], now)
            else:
                line._move("shipped")
                line.shipped_at, line.tracking_number = now, tracking_number
        self._restate()
        return lines

    def deliver(self, tracking_number: str, now: datetime, actor: Actor | None) -> list[Line]:
        """The shipment with this tracking number arrived. Empty if it was recorded already."""
        lines = [line for line in self.lines if line.is_shipped and line.tracking_number == tracking_number]
        if not lines:
            raise Rejection("unknown_shipment", f"order {self.order_id} has no shipment {tracking_number}")
        self.check_buyer_or_seller(actor, lines, "confirm delivery of")
        fresh = [line for line in lines if line.state == "shipped"]
        for line in fresh:
            line._move("delivered")
            line.delivered_at = now
        self._restate()
        return fresh

    # ------------------------------------------------------------------ cancel, replace

    def cancel(self, line_ids: Sequence[str], reason: str, now: datetime, actor: Actor | None) -> list[Line]:
        """Cancel lines before they ship (R17). Empty if they were all cancelled already."""
        lines = self._lines(line_ids)
        self.check_buyer_or_seller(actor, lines, "cancel")
        for line in lines:
            if line.is_shipped or line.partially_shipped:
                raise Rejection("already_shipped", f"line {line.line_id} was shipped and cannot be cancelled")
            if line.state == "rejected":
                raise Rejection("order_rejected", f"order {self.order_id} was rejected")
        fresh = [line for line in lines if line.state != "cancelled"]
        for line in fresh:
            line._move("cancelled")
            line.cancelled_at, line.cancel_reason = now, reason
        self._restate()
        return fresh

    def request_replacement(
        self, line_id: str, actor: Actor | None, *, on_backorder: bool, out_of_stock: bool
    ) -> ReplacementDecision:
        """R18: no replacement for a SKU on backorder or out of stock; the buyer is refunded instead."""
        line = self.line(line_id)
        self.check_buyer_or_seller(actor, [line], "request a replacement for")
        if not line.is_shipped:
            raise Rejection("not_shipped", f"line {line_id} has not shipped; cancel it instead")
        if line.replacement is not None:
            raise Rejection("replacement_already_requested",
                            f"a replacement was requested for line {line_id} already ({line.replacement})")
        if on_backorder or out_of_stock:
            decision = ReplacementDecision("refund", "sku_on_backorder" if on_backorder else "out_of_stock")
        else:
            decision = ReplacementDecision("replacement")
        line.replacement = decision.outcome
        return decision

    # ------------------------------------------------------------------ rolling backorder

    def extend_handling(self, sku_id: str, handling_days: int, policy: DatingPolicy) -> list[Delay]:
        """The seller gave a SKU more handling days: re-date the parts still waiting for stock.

        Dates only ever move later: a shorter handling time keeps the promise already made.
        """
        delays: list[Delay] = []
        for line in self.lines:
            if line.sku_id != sku_id or line.state != "awaiting_stock":
                continue
            before = line.backorder_dates()
            assert before is not None  # awaiting_stock implies a backorder part
            region = line.seller_region or self.region
            tz = zone(line.seller_timezone, region)
            dates = policy.dates(self.placed_at, seller_region=region, seller_tz=tz, buyer_region=self.region,
                                 business_days=handling_days)
            moved = False
            for part in line.parts:
                if part.waiting and dates.ship_by > part.ship_by:
                    part.ship_by = dates.ship_by
                    part.estimated_delivery = max(part.estimated_delivery, dates.estimated_delivery)
                    moved = True
            if not moved:
                continue
            line.handling_days = handling_days
            after = line.backorder_dates()
            assert after is not None
            line.due_at = deadline(after[0], tz)
            delays.append(Delay(line, before[0], after[0], before[1], after[1]))
        return delays


def place(
    *,
    order_id: str,
    buyer_id: str,
    buyer_email: str,
    region: str,
    locale: str,
    timezone: str | None,
    placed_at: datetime,
    lines: Sequence[tuple[str, str, int]],
    sellers: Mapping[str, str],
    received_at: datetime | None = None,
) -> Order:
    """A new ``pending`` order. ``sellers`` maps the SKUs orders already knows to their seller."""
    if len({line_id for line_id, _, _ in lines}) != len(lines):
        raise Rejection("duplicate_line", "an order names the same line id twice")
    return Order(
        order_id=order_id, buyer_id=buyer_id, buyer_email=buyer_email, region=region, locale=locale,
        timezone=timezone, placed_at=placed_at, received_at=received_at,
        lines=[Line(line_id, sku_id, qty, seller_id=sellers.get(sku_id)) for line_id, sku_id, qty in lines],
    )


def check_may_place(actor: Actor | None, buyer_id: str) -> None:
    """A buyer places orders for itself only; a seller places none."""
    if actor is None:
        return
    if actor.is_seller:
        raise Rejection("forbidden", "a seller cannot place orders")
    if actor.is_buyer and actor.id != buyer_id:
        raise Rejection("not_owner", f"buyer {actor.id} cannot place an order for buyer {buyer_id}")


def snapshot(order: Order) -> Order:
    """A deep copy (for tests that prove a refused command changed nothing)."""
    return replace(order, lines=[replace(line, parts=[replace(p) for p in line.parts], shipments=list(line.shipments))
                                 for line in order.lines])
