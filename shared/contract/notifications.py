"""notifications.commands (Kafka key: buyer_id) and notifications.events (Kafka key: order_id; seller_id for a
seller's stock alert (R32); buyer_id for what concerns a buyer's inbox as a whole: NotificationsRead, and
CommandRejected of an inbox command)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Literal

from pydantic import ConfigDict, Field

from .common import Id
from .envelope import Payload
from .rejections import CommandRejected

NotificationKind = Literal[
    "backorder_accepted", "backorder_released", "shipped", "late", "delayed", "cancelled", "refunded", "rejected",
    # to the seller (R32)
    "low_stock", "backorder_exhausted", "backorder_uncovered",
]
#: the kinds told to a seller rather than a buyer (R32)
SELLER_KINDS = ("low_stock", "backorder_exhausted", "backorder_uncovered")

_ORDER = Field(default=None, description="The order the message is about; null for a seller's stock alert of a SKU",
               examples=["o-1001"])
_BUYER = Field(default=None, description="The buyer told; null when the message went to a seller", examples=["b-7"])
_SELLER = Field(default=None, description="The seller told (R32: stock alerts, uncovered backorders); null when "
                                          "the message went to a buyer", examples=["seller-1"])
_SKU = Field(default=None, description="The SKU a seller's alert is about (R32)", examples=["sku-42"])


class NotificationSent(Payload):
    """A message reached its recipient on one channel: a buyer (R20, R21) or, for ``SELLER_KINDS``, a seller
    (R32). Exactly one of ``buyer_id`` and ``seller_id`` is set."""

    notification_id: str = Field(description="Deterministic: order or seller and SKU, line, kind, revision, channel")
    order_id: Id | None = _ORDER
    buyer_id: Id | None = _BUYER
    seller_id: Id | None = _SELLER
    sku_id: Id | None = _SKU
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
    order_id: Id | None = _ORDER
    buyer_id: Id | None = _BUYER
    seller_id: Id | None = _SELLER
    sku_id: Id | None = _SKU
    channel: Literal["app", "email"]
    kind: NotificationKind
    attempts: int
    error: str = Field(max_length=1000)


# ---------------------------------------------------------------- the buyer's app inbox


class MarkNotificationsRead(Payload):
    """The buyer read app messages of their inbox (the buyer app sends it when they are opened).

    Refused, changing nothing: ``unknown_notification`` when an id is not an app message of this buyer,
    ``not_owner`` when a buyer acts on another buyer's inbox, ``forbidden`` for a seller. Marking a message
    read again is a no-op. No principal means a trusted platform service."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"buyer_id": "buyer-7", "notification_ids": ["0b6f3c52-5d0e-5c59-9d0a-4c3e8f1a2b7d"]},
        {"buyer_id": "buyer-7", "notification_ids": None},
    ]})

    buyer_id: Id = Field(examples=["buyer-7"])
    notification_ids: list[uuid.UUID] | None = Field(
        default=None, min_length=1, max_length=500,
        description="The app messages read; null: every unread app message of the buyer's",
        examples=[["0b6f3c52-5d0e-5c59-9d0a-4c3e8f1a2b7d"]],
    )


class NotificationsRead(Payload):
    """App messages became read: a push gateway clears them, and the badge, on the buyer's other devices."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"buyer_id": "buyer-7", "notification_ids": ["0b6f3c52-5d0e-5c59-9d0a-4c3e8f1a2b7d"], "unread": 2},
    ]})

    buyer_id: Id = Field(examples=["buyer-7"])
    notification_ids: list[str] = Field(max_length=10_000, description="The messages this command marked read")
    unread: int = Field(ge=0, description="App messages of the buyer's still unread", examples=[2])


NOTIFICATIONS_COMMANDS: tuple[type[Payload], ...] = (MarkNotificationsRead,)
NOTIFICATIONS_EVENTS: tuple[type[Payload], ...] = (
    NotificationSent, NotificationFailed, NotificationsRead, CommandRejected,
)
