"""notifications.events. Kafka key: order_id."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import Field

from .common import Id
from .envelope import Payload

NotificationKind = Literal[
    "backorder_accepted", "backorder_released", "shipped", "late", "delayed", "cancelled", "refunded"
]


class NotificationSent(Payload):
    """A message reached the buyer on one channel (R20, R21)."""

    notification_id: str = Field(description="Deterministic: order, line, kind, revision, channel")
    order_id: Id
    buyer_id: Id
    channel: Literal["app", "email"]
    kind: NotificationKind
    ship_by: date | None = None
    estimated_delivery: date | None = None
    line_ids: list[Id] = Field(default=[], max_length=100, description="The order lines the message is about")
    title: str | None = Field(default=None, description="The message title (the email's subject)",
                              examples=["On back order: your order o-1001 ships by Friday, December 4, 2026"])
    message: str | None = Field(
        default=None, description="app: the inbox text, for a push gateway to deliver (no personal data)",
        examples=["1 item is on back order in order o-1001: ships by Friday, December 4, 2026, "
                  "estimated delivery Wednesday, December 9, 2026."],
    )


class NotificationFailed(Payload):
    """A notification could not be delivered after every attempt."""

    notification_id: str
    order_id: Id
    buyer_id: Id
    channel: Literal["app", "email"]
    kind: NotificationKind
    attempts: int
    error: str = Field(max_length=1000)


NOTIFICATIONS_EVENTS: tuple[type[Payload], ...] = (NotificationSent, NotificationFailed)
