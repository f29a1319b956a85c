"""What to tell a buyer or a seller, and when a notification counts as the same one (R20-R22, R32). Pure: no I/O.

An order event becomes at most one ``Notice``: one message about the backordered lines it
concerns, sent on every channel. Its identity is deterministic, built from the facts and
never from the Kafka message, so the same fact told again (a redelivery, a replay by a new
consumer group, the orders service re-emitting it under a new event id) maps to the same
notification and is sent once:

``notification_id = uuid5(order | sorted line ids | kind | revision | channel)``

The *revision* tells apart facts of the same kind about the same lines that the buyer must
hear about separately: a second delay (new dates), a line late again after a delay (new
ship-by), a release of another quantity. Kinds that happen once per line use ``"1"``.

R32: sellers are told too, of their SKUs' stock (``SELLER_KINDS``): a ``Notice`` with a ``seller_id`` and
no buyer. A stock alert is about a SKU, not an order: its subject is ``seller_id|sku_id`` in place of the
order, and its revision is the id of inventory's alert event. Inventory emits each crossing once, from its
outbox, in the transaction that crossed, so that id is the crossing's own: a redelivery or a replay of the
alert maps to the same notification, and the next crossing, a new event, is news. An uncovered backorder
(R29, ``BackorderUncovered``) is about an order's line; its revision is the warehouse and the ship-by still
promised.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal, get_args

from shared.contract import inventory as inv
from shared.contract import orders as o
from shared.contract.envelope import Principal
from shared.contract.notifications import SELLER_KINDS, NotificationKind
from shared.domain import Rejection

Channel = Literal["app", "email"]
CHANNELS: tuple[Channel, ...] = ("app", "email")
KINDS: tuple[str, ...] = get_args(NotificationKind)

#: fixed namespace of notification ids; changing it would resend everything on a replay
NOTIFICATION_NAMESPACE = uuid.UUID("0c5d2a4e-8f0b-5b7e-9a41-6e6f74696679")


def notification_id(order_id: str, line_ids: Iterable[str], kind: str, revision: str, channel: str) -> str:
    """R22: the same (order, lines, kind, revision, channel) always gives the same id.

    Contract ids cannot contain ``|`` or ``,``, so the joined key is unambiguous.
    """
    key = "|".join((order_id, ",".join(sorted(set(line_ids))), kind, revision, channel))
    return str(uuid.uuid5(NOTIFICATION_NAMESPACE, key))


def message_id(notification_id: str, domain: str) -> str:
    """The email ``Message-ID``: deterministic, so a mail system can drop a resent copy."""
    return f"<{notification_id}@{domain}>"


# ---------------------------------------------------------------- what we know of an order


@dataclass(frozen=True)
class Buyer:
    """Who to tell and how they read dates. Learnt from ``OrderPlaced``."""

    buyer_id: str
    email: str
    region: str
    locale: str
    timezone: str | None
    placed_at: datetime


@dataclass(frozen=True)
class Seller:
    """Who to tell of a seller's stock (R32). Learnt from catalog's ``SellerRegistered``; ``email`` None
    when the seller gave none."""

    seller_id: str
    email: str | None
    region: str
    timezone: str | None


@dataclass(frozen=True)
class LineState:
    """A line as the buyer was told about it: how much is on back order and its latest promised dates."""

    line_id: str
    sku_id: str
    qty: int
    backorder_qty: int
    ship_by: date | None
    estimated_delivery: date | None

    @property
    def backordered(self) -> bool:
        return self.backorder_qty > 0


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


# ---------------------------------------------------------------- what to tell


@dataclass(frozen=True)
class Item:
    """One line in a message."""

    line_id: str
    sku_id: str
    qty: int
    backorder_qty: int
    ship_by: date | None
    estimated_delivery: date | None
    previous_ship_by: date | None = None
    previous_estimated_delivery: date | None = None

    @classmethod
    def of(cls, line: LineState, **changes: Any) -> Item:
        values: dict[str, Any] = {
            "line_id": line.line_id, "sku_id": line.sku_id, "qty": line.qty, "backorder_qty": line.backorder_qty,
            "ship_by": line.ship_by, "estimated_delivery": line.estimated_delivery,
        }
        values.update(changes)
        return cls(**values)

    def data(self) -> dict[str, Any]:
        """ISO dates: what machines read."""
        return {k: v.isoformat() if isinstance(v, date) else v for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class Notice:
    """One message to one buyer about some lines of one order, or (R32) to one seller about a SKU (and, for
    an uncovered backorder, an order's line); sent on every channel."""

    order_id: str | None
    buyer_id: str | None
    kind: NotificationKind
    revision: str
    items: tuple[Item, ...]
    facts: Mapping[str, str | bool] = field(default_factory=dict)  # tracking_number, reason, status, ...
    seller_id: str | None = None
    sku_id: str | None = None

    @property
    def to_seller(self) -> bool:
        return self.seller_id is not None

    @property
    def key(self) -> str | None:
        """The Kafka key of what is said about it: the order, else (a SKU alert) the seller."""
        return self.order_id or self.seller_id

    @property
    def subject(self) -> str:
        """What the message is about, in its id: the order, or the seller's SKU (ids cannot contain ``|``)."""
        if self.order_id is None:
            return f"{self.seller_id}|{self.sku_id}"
        return self.order_id

    @property
    def line_ids(self) -> tuple[str, ...]:
        return tuple(sorted({i.line_id for i in self.items}))

    @property
    def ship_by(self) -> date | None:
        """The latest ship-by of the lines told about: when all of them will have shipped."""
        return max((i.ship_by for i in self.items if i.ship_by), default=None)

    @property
    def estimated_delivery(self) -> date | None:
        return max((i.estimated_delivery for i in self.items if i.estimated_delivery), default=None)

    def notification_id(self, channel: Channel) -> str:
        return notification_id(self.subject, self.line_ids, self.kind, self.revision, channel)

    def data(self) -> dict[str, Any]:
        return {
            "order_id": self.order_id,
            **({"seller_id": self.seller_id, "sku_id": self.sku_id} if self.to_seller else {}),
            "kind": self.kind,
            "revision": self.revision,
            "line_ids": list(self.line_ids),
            "ship_by": self.ship_by.isoformat() if self.ship_by else None,
            "estimated_delivery": self.estimated_delivery.isoformat() if self.estimated_delivery else None,
            "items": [i.data() for i in self.items],
            "facts": dict(self.facts),
        }


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


assert set(SELLER_KINDS) <= set(KINDS)


def apply_delay(line: LineState, event: o.BackorderDelayed) -> LineState:
    return LineState(line.line_id, line.sku_id, line.qty, line.backorder_qty, event.ship_by,
                     event.estimated_delivery)


# ---------------------------------------------------------------- email delivery policy

Outcome = Literal["sent", "retry", "failed"]


def retry_delay(attempts: int, base_s: float, max_s: float, rng: random.Random | None = None) -> float:
    """Exponential backoff with +-20 % jitter, so a queue that failed together does not retry together."""
    delay = min(max_s, base_s * 2 ** max(0, attempts - 1))
    return delay * (rng or random).uniform(0.8, 1.2)


def after_failure(attempts: int, max_attempts: int, permanent: bool) -> Outcome:
    """A 5xx reply is final (RFC 5321); anything else is retried until the attempts run out."""
    return "failed" if permanent or attempts >= max_attempts else "retry"


@dataclass(frozen=True)
class OutgoingEmail:
    """A claimed email, ready to hand to SMTP. ``recipient`` is None when the buyer (or the seller's
    address, R32) is unknown."""

    notification_id: str
    order_id: str | None
    buyer_id: str | None
    kind: NotificationKind
    line_ids: tuple[str, ...]
    locale: str
    recipient: str | None
    subject: str
    body_text: str
    body_html: str | None
    ship_by: date | None
    estimated_delivery: date | None
    attempts: int
    caused_by: uuid.UUID | None
    correlation_id: uuid.UUID | None
    created_at: datetime
    seller_id: str | None = None
    sku_id: str | None = None


@dataclass(frozen=True)
class ExpiredEmail:
    notification_id: str
    order_id: str | None
    buyer_id: str | None
    kind: NotificationKind
    attempts: int
    error: str
    caused_by: uuid.UUID | None
    correlation_id: uuid.UUID | None
    seller_id: str | None = None
    sku_id: str | None = None


# ---------------------------------------------------------------- the buyer's app inbox


def check_inbox_owner(principal: Principal | None, buyer_id: str) -> None:
    """A buyer changes its own inbox only; a seller none. Operators and platform services (no principal,
    or kind ``operator``/``service``) may change any buyer's, as support does."""
    if principal is None or principal.kind in ("operator", "service"):
        return
    if principal.kind != "buyer":
        raise Rejection("forbidden", f"a {principal.kind} cannot change a buyer's inbox")
    if principal.id != buyer_id:
        raise Rejection("not_owner", f"buyer {principal.id} cannot change the inbox of buyer {buyer_id}")
