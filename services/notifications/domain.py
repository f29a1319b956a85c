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


assert set(SELLER_KINDS) <= set(KINDS)


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
