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
