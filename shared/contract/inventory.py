"""inventory.commands and inventory.events. Kafka key: sku_id for stock, order_id for allocation."""

from __future__ import annotations

from pydantic import Field

from .common import Id, Quantity, StockLevel, StockSource
from .envelope import Payload
from .rejections import CommandRejected

# ---------------------------------------------------------------- commands


class SetStock(Payload):
    """A stock count: set the on-hand regular stock of a SKU in a warehouse."""

    sku_id: Id
    warehouse_id: Id
    on_hand: StockLevel


class ReceiveStock(Payload):
    """An inbound receipt (restock): fills waiting backorders oldest first, the rest is regular stock (R11)."""

    receipt_id: Id = Field(description="Idempotency key of the receipt", examples=["rcpt-7"])
    sku_id: Id
    warehouse_id: Id
    qty: Quantity


class SetStockPolicy(Payload):
    """Seller-facing levels of a SKU (R10): safety stock and low-stock alert threshold."""

    sku_id: Id
    safety_stock: StockLevel = 0
    low_stock_threshold: StockLevel | None = None


class PrioritizeBackorder(Payload):
    """A seller's explicit priority for an order's waiting backorder parts of a SKU (R19): higher fills first."""

    sku_id: Id
    order_id: Id
    priority: int = Field(ge=0, le=1000, examples=[10])


INVENTORY_COMMANDS: tuple[type[Payload], ...] = (SetStock, ReceiveStock, SetStockPolicy, PrioritizeBackorder)

# ---------------------------------------------------------------- events


class AllocatedPart(Payload):
    """Part of a line filled from one warehouse and one source."""

    warehouse_id: Id
    source: StockSource
    qty: Quantity


class AllocatedLine(Payload):
    """An order line and the parts it was filled from (R09)."""

    line_id: Id
    sku_id: Id
    parts: list[AllocatedPart]


class StockAllocated(Payload):
    """Every line of an order is allocated; regular stock first, backorder after (R07)."""

    order_id: Id
    lines: list[AllocatedLine]


class AllocationRejected(Payload):
    """The order could not be allocated; nothing is held for it (R08)."""

    order_id: Id
    reason: str = Field(examples=["out_of_stock"])
    line_ids: list[Id]


class BackorderReleased(Payload):
    """A receipt filled a waiting backorder part; it may ship now (R11)."""

    order_id: Id
    line_id: Id
    sku_id: Id
    warehouse_id: Id
    qty: Quantity
    receipt_id: Id | None = None


class StockChanged(Payload):
    """Levels of a SKU in a warehouse after a movement, and the seller-facing figures (R10, R12).

    In stock = on_hand - allocated (free regular units); backorder = backorder_limit -
    backorder_allocated while the SKU is on backorder, else 0; total = in stock + backorder.
    Safety stock is per SKU, so available-to-promise is given for the SKU and, per
    warehouse, as what this warehouse can promise now (never more than the SKU's).
    """

    sku_id: Id
    warehouse_id: Id
    on_hand: int
    allocated: int
    backorder_limit: int
    backorder_allocated: int
    available_to_promise: int = Field(
        description="Regular units this warehouse can promise now: its free stock, at most the SKU's ATP"
    )
    total: int = Field(description="In stock + backorder in this warehouse, as shown to sellers (R10)")
    sku_available_to_promise: int = Field(description="The SKU's free regular stock, less its safety stock")
    sku_total: int = Field(description="In stock + backorder of the SKU over all its warehouses (R10)")


class LowStock(Payload):
    """The SKU's available-to-promise fell below the seller's low-stock threshold (R10).

    Sent once per crossing: again only after ATP was back at or above the threshold.
    ``warehouse_id`` is None: the threshold is per SKU.
    """

    sku_id: Id
    warehouse_id: Id | None = None
    available_to_promise: int
    threshold: int


INVENTORY_EVENTS: tuple[type[Payload], ...] = (
    StockAllocated,
    AllocationRejected,
    BackorderReleased,
    StockChanged,
    LowStock,
    CommandRejected,
)
