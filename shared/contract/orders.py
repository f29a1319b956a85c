"""orders.commands and orders.events. Kafka key: order_id."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import AwareDatetime, ConfigDict, Field, model_validator

from .common import Email, Id, Quantity, Region, StockSource
from .envelope import Payload
from .rejections import CommandRejected
from .upcasting import upcast

OrderStatus = Literal[
    "pending", "awaiting_shipment", "partially_shipped", "shipped", "delivered", "rejected", "cancelled"
]

# ---------------------------------------------------------------- commands


class OrderLine(Payload):
    """A line of an order: a quantity of one SKU."""

    line_id: Id = Field(examples=["l1"])
    sku_id: Id
    qty: Quantity


class PlaceOrder(Payload):
    """A buyer places an order."""

    order_id: Id = Field(examples=["o-1001"])
    buyer_id: Id = Field(examples=["buyer-7"])
    buyer_email: Email
    region: Region = Field(description="The buyer's (delivery) region")
    locale: str = Field(default="en_US", max_length=16, pattern=r"^[a-z]{2}(_[A-Z]{2})?$", examples=["en_US"])
    timezone: str | None = Field(default=None, max_length=64, description="Buyer's IANA zone; from region if unset")
    lines: list[OrderLine] = Field(min_length=1, max_length=100)


class LineQty(Payload):
    """A quantity of one line in a shipment (R27)."""

    line_id: Id
    qty: Quantity = Field(description="Units of the line in this shipment")


class ShipLines(Payload):
    """The seller shipped some lines (split shipments, R16), or some units of a line (R27).

    ``line_ids`` ship whole lines: all their units not shipped yet, which must all be in stock (a
    backordered part released by a restock). ``quantities`` ship some units of a line: at most the
    units of the line not shipped yet (else ``exceeds_line``) and at most those in stock now, its
    regular units and the released backordered ones (else ``not_released``); so the in-stock units
    of a partly backordered line ship now, the rest once released. The line is
    ``partially_shipped`` until all its units have shipped. A line is named in one of the two
    lists only. Any refusal is a ``CommandRejected`` and ships nothing of the command."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"order_id": "o-1001", "line_ids": [], "quantities": [{"line_id": "l1", "qty": 2}],
         "tracking_number": "1Z999AA10123456784"},
    ]})

    order_id: Id
    line_ids: list[Id] = Field(default_factory=list, max_length=100, description="Lines shipped whole")
    quantities: list[LineQty] = Field(default_factory=list, max_length=100,
                                      description="Units of lines shipped now; the rest later (R27)")
    tracking_number: str = Field(min_length=1, max_length=64, examples=["1Z999AA10123456784"])

    @model_validator(mode="after")
    def _names_lines(self) -> ShipLines:
        named = [q.line_id for q in self.quantities]
        if not self.line_ids and not named:
            raise ValueError("a shipment names at least one line (line_ids) or quantity (quantities)")
        if len(set(named)) != len(named) or set(named) & set(self.line_ids):
            raise ValueError("a line is named once, in line_ids or in quantities")
        return self


class CancelLines(Payload):
    """The buyer cancels lines before they ship (R17)."""

    order_id: Id
    line_ids: list[Id] = Field(min_length=1, max_length=100)
    reason: str = Field(default="buyer_request", max_length=200, examples=["buyer_request"])


class RequestReplacement(Payload):
    """The buyer asks for a replacement of a line (R18)."""

    order_id: Id
    line_id: Id


class ConfirmDelivery(Payload):
    """The carrier (or the buyer) confirmed a shipment arrived: its lines become delivered."""

    order_id: Id
    tracking_number: str = Field(min_length=1, max_length=64, examples=["1Z999AA10123456784"])


ORDERS_COMMANDS: tuple[type[Payload], ...] = (
    PlaceOrder, ShipLines, CancelLines, RequestReplacement, ConfirmDelivery,
)

# ---------------------------------------------------------------- events


class OrderPlaced(Payload):
    """An order was recorded and awaits allocation."""

    order_id: Id
    buyer_id: Id
    buyer_email: Email
    region: Region
    locale: str = "en_US"
    timezone: str | None = None
    placed_at: AwareDatetime
    lines: list[OrderLine]


class DatedPart(Payload):
    """A part of a line with its source and promised dates (R14)."""

    source: StockSource
    warehouse_id: Id
    qty: Quantity
    ship_by: date
    estimated_delivery: date


class AcceptedLine(Payload):
    """An accepted line with its dated parts."""

    line_id: Id
    sku_id: Id
    qty: Quantity
    seller_id: Id | None = None
    parts: list[DatedPart]


class OrderAccepted(Payload):
    """Stock is allocated; the order awaits shipment (R13, R14)."""

    order_id: Id
    buyer_id: Id
    status: OrderStatus = Field(examples=["awaiting_shipment"])
    tags: list[str] = Field(examples=[["back_order"]])
    lines: list[AcceptedLine]


class RejectionReason(Payload):
    """Why an order was refused, for programs: a stable code and the SKUs it concerns."""

    code: str = Field(min_length=1, max_length=100, examples=["out_of_stock"])
    sku_ids: list[Id] = Field(default=[], description="the SKUs of the refused lines (none: the whole order)")


class OrderRejected(Payload):
    """The order cannot be filled (R08).

    Version 2: ``reason`` is a ``RejectionReason`` (version 1 sent its code as a string; consumers read both,
    shared/contract/upcasting.py). Sent as version 1 until the next release, which sends version 2."""

    contract_version = 2

    order_id: Id
    buyer_id: Id | None = None
    reason: RejectionReason
    line_ids: list[Id] = []

    @model_validator(mode="before")
    @classmethod
    def _from_version_1(cls, data: Any) -> Any:
        """Code written against version 1 (``reason="out_of_stock"``) builds version 2, by the same step."""
        return upcast(cls.message_type, 1, data, 2) if isinstance(data, dict) and isinstance(
            data.get("reason"), str) else data


class ReleasedLine(Payload):
    """A backordered line (part) released by a restock."""

    line_id: Id
    sku_id: Id
    qty: Quantity
    ship_by: date
    estimated_delivery: date


class LinesReleased(Payload):
    """Backordered lines were filled by a restock and may ship (R11, R21)."""

    order_id: Id
    buyer_id: Id
    lines: list[ReleasedLine]


class LinesShipped(Payload):
    """Lines shipped; the order is partially_shipped or shipped (R16, R27).

    ``line_ids``: every line this shipment touched. ``quantities``: the lines of which only the
    units given shipped now (a split line, R27); a line in ``line_ids`` only shipped all its
    units not shipped before."""

    order_id: Id
    buyer_id: Id
    line_ids: list[Id]
    tracking_number: str
    status: OrderStatus
    quantities: list[LineQty] = Field(default_factory=list, description="Units shipped of split lines (R27)")


class OrderShipmentLate(Payload):
    """A backordered line missed its ship-by date (R15)."""

    order_id: Id
    buyer_id: Id
    line_id: Id
    sku_id: Id
    seller_id: Id | None = None
    ship_by: date
    estimated_delivery: date
    cancellable: bool = Field(default=True, description="The buyer may cancel the late line (R15, R17)")


class BackorderDelayed(Payload):
    """A backordered line's promised dates moved later (a rolling backorder); the buyer gets a delay alert."""

    order_id: Id
    buyer_id: Id
    line_id: Id
    sku_id: Id
    previous_ship_by: date
    ship_by: date
    previous_estimated_delivery: date
    estimated_delivery: date
    reason: str = Field(max_length=200, examples=["handling_time_extended"],
                        description="handling_time_extended (the seller's handling time grew), inbound_late (the "
                                    "inbound the line waits for is late, smaller or gone: R29)")
    projected_on: date | None = Field(default=None, description="R29: the day the stock is now projected to arrive")
    cancellable: bool = Field(default=True, description="The buyer may cancel the line before it ships (R17, R29)")


class BackorderUncovered(Payload):
    """R29: no inbound covers a line's waiting units any more (an inbound was cancelled or became smaller). Its
    dates are not moved blindly: the seller is asked to announce supply or to act on the line."""

    order_id: Id
    buyer_id: Id
    line_id: Id
    sku_id: Id
    seller_id: Id | None = None
    warehouse_id: Id
    ship_by: date = Field(description="The ship-by still promised to the buyer")


class CancelledPart(Payload):
    """Stock to give back to the ledger it came from (R17)."""

    warehouse_id: Id
    source: StockSource
    qty: Quantity
    released_qty: int = Field(default=0, ge=0, description="Of a backorder part: units a restock had filled")


class CancelledLine(Payload):
    """A cancelled line and the allocation it held."""

    line_id: Id
    sku_id: Id
    parts: list[CancelledPart] = []


class LinesCancelled(Payload):
    """Lines were cancelled before shipping; their stock is released (R17)."""

    order_id: Id
    buyer_id: Id
    lines: list[CancelledLine]
    reason: str
    status: OrderStatus


class RefundRequested(Payload):
    """A replacement could not be offered; the buyer must be refunded (R18)."""

    order_id: Id
    buyer_id: Id
    line_id: Id
    reason: str = Field(examples=["replacement_unavailable"])
    sku_id: Id | None = None
    detail: str | None = Field(default=None, max_length=64, examples=["sku_on_backorder", "out_of_stock"])


class ReplacementAccepted(Payload):
    """A replacement will be sent: the SKU is neither on backorder nor out of stock (R18)."""

    order_id: Id
    buyer_id: Id
    line_id: Id
    sku_id: Id
    qty: Quantity


class OrderDelivered(Payload):
    """A shipment arrived; the order is delivered once every line that is not cancelled is."""

    order_id: Id
    buyer_id: Id
    line_ids: list[Id]
    tracking_number: str
    status: OrderStatus


ORDERS_EVENTS: tuple[type[Payload], ...] = (
    OrderPlaced,
    OrderAccepted,
    OrderRejected,
    LinesReleased,
    LinesShipped,
    OrderShipmentLate,
    BackorderDelayed,
    BackorderUncovered,
    LinesCancelled,
    RefundRequested,
    CommandRejected,
    ReplacementAccepted,
    OrderDelivered,
)
