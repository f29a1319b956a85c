"""inventory.commands and inventory.events. Kafka key: sku_id for stock, order_id for allocation."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import ConfigDict, Field

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
    inbound_id: Id | None = Field(
        default=None, description="The inbound this receipt fulfils (R28); an unknown or cancelled one is still "
                                  "received as stock and reported with ReceiptMismatch", examples=["po-7"])


class AnnounceInbound(Payload):
    """A seller's expected inbound stock (R28): a purchase order or inbound shipment. Waiting backorders of the
    SKU in that warehouse are projected against it, in queue order, inbounds in order of arrival.

    ``qty`` and ``expected_on`` are checked by inventory, not the schema, so a bad value is answered with
    ``CommandRejected`` (invalid_qty, date_in_past) rather than dead-lettered."""

    inbound_id: Id = Field(description="The seller's id of the inbound; announcing it again is a no-op",
                           examples=["po-7"])
    sku_id: Id
    warehouse_id: Id
    qty: int = Field(le=1_000_000, description="Units expected", examples=[40])
    expected_on: date = Field(description="Expected arrival day in the warehouse", examples=["2026-12-14"])


class ChangeInbound(Payload):
    """A new quantity and/or arrival day of an open inbound (R28); what is not given stays."""

    inbound_id: Id
    sku_id: Id
    qty: int | None = Field(default=None, le=1_000_000, examples=[30])
    expected_on: date | None = Field(default=None, examples=["2026-12-21"])


class CancelInbound(Payload):
    """The inbound will not come (R28): the backorders it covered are projected again."""

    inbound_id: Id
    sku_id: Id


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


class SetTransferPolicy(Payload):
    """Whether a SKU's stock may move between warehouses to serve its backorders fairly (R31).

    While transfers are allowed, the free units of a warehouse in the pool (a receipt first) fill the
    oldest, or highest-priority, waiting backorder part of the SKU in any warehouse of the pool, which then
    ships from the warehouse whose units it got. Off by default. The policy is per SKU; a seller sets it on
    each SKU it wants pooled.

    ``warehouses`` is checked by inventory, not the schema, so a policy that makes no sense is answered with
    ``CommandRejected`` (warehouses_without_transfers, duplicate_warehouse, too_few_warehouses,
    unknown_warehouse) and changes nothing."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"sku_id": "sku-42", "allow_transfers": True, "warehouses": None},
        {"sku_id": "sku-42", "allow_transfers": True, "warehouses": ["wh-east", "wh-west"]},
    ]})

    sku_id: Id
    allow_transfers: bool = Field(description="May a warehouse's stock fill backorders waiting in another one")
    warehouses: list[Id] | None = Field(
        default=None, max_length=100,
        description="The pool: the warehouses that share their stock, at least two; null means every "
                    "warehouse of the SKU. Only while transfers are allowed.",
        examples=[["wh-east", "wh-west"]])


INVENTORY_COMMANDS: tuple[type[Payload], ...] = (
    SetStock, ReceiveStock, SetStockPolicy, PrioritizeBackorder, AnnounceInbound, ChangeInbound, CancelInbound,
    SetTransferPolicy)

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
    """A receipt filled a waiting backorder part; it may ship now (R11). Where the seller allows transfers
    (R31), a part waiting in one warehouse may be filled from another's stock: it ships from ``ship_from``."""

    order_id: Id
    line_id: Id
    sku_id: Id
    warehouse_id: Id = Field(description="The warehouse the part was allocated in and waited in")
    qty: Quantity
    receipt_id: Id | None = None
    ship_from: Id | None = Field(
        default=None, description="The warehouse whose stock filled the part, which it ships from (R31); "
                                  "null in events sent before R31, meaning warehouse_id", examples=["wh-west"])


class TransferPolicySet(Payload):
    """A SKU's transfer policy as stored (R31), in answer to ``SetTransferPolicy``. Key: sku_id."""

    sku_id: Id
    allow_transfers: bool
    warehouses: list[Id] | None = Field(description="The pool; null: every warehouse of the SKU")


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
    """The SKU's total available stock, in stock plus backorder, fell below the seller's low-stock threshold
    (R10, R32). Notifications tells the seller (app and email).

    Sent once per crossing: again only after the total was back at or above the threshold.
    ``warehouse_id`` is None: the threshold is per SKU.
    """

    sku_id: Id
    seller_id: Id | None = Field(default=None, description="The SKU's seller, who is alerted (R32); None when "
                                                           "inventory does not know it", examples=["seller-1"])
    warehouse_id: Id | None = None
    available_to_promise: int = Field(description="In stock: the SKU's free regular units less its safety stock")
    backorder: int = Field(default=0, description="Backorder units still sellable (0 while not on backorder)")
    total_available: int | None = Field(
        default=None, description="In stock + backorder: what the threshold is compared with (R32); None in "
                                  "alerts sent before R32, which compared available_to_promise")
    threshold: int


class BackorderStockExhausted(Payload):
    """R32: the SKU's backorder stock ran out (it had backorder units to sell, now it has none, and it is
    still on backorder). Sent once per crossing: again only after backorder stock was added and ran out
    again. Notifications tells the seller (app and email). Key: sku_id."""

    sku_id: Id
    seller_id: Id | None = Field(default=None, description="The SKU's seller, who is alerted",
                                 examples=["seller-1"])
    available_to_promise: int = Field(description="Regular units still promisable (in stock)", examples=[0])
    backorder_allocated: int = Field(description="Backorder units promised to orders, still waiting for stock",
                                     examples=[25])


class ProjectedPart(Payload):
    """A waiting backorder part and the day it is projected to be filled (R28)."""

    order_id: Id
    line_id: Id
    part_no: int
    warehouse_id: Id
    qty: Quantity
    projected_on: date | None = Field(description="Arrival day of the inbound that covers its last unit; null when "
                                                  "no inbound covers it")
    inbound_id: Id | None = Field(description="That inbound")


class BackorderProjected(Payload):
    """The projected fill dates of a SKU's waiting backorder parts changed (R28): only the parts whose date or
    inbound changed. Key: sku_id. Sent in the transaction that changed the queue or its inbounds."""

    sku_id: Id
    parts: list[ProjectedPart]


class ReceiptMismatch(Payload):
    """A receipt named an inbound it cannot fulfil (R28); its units were received as stock all the same.
    reason: unknown_inbound, inbound_cancelled, inbound_received, other_sku, other_warehouse."""

    receipt_id: Id
    inbound_id: Id
    sku_id: Id
    warehouse_id: Id
    qty: Quantity
    reason: str = Field(max_length=64, examples=["inbound_cancelled"])


PromiseLabel = Literal["in_stock", "on_back_order", "out_of_stock"]


class PromiseChanged(Payload):
    """What a storefront shows of a SKU changed (R25): it became orderable or not, its label changed, or
    its handling time did. Key: sku_id; the newest event of a SKU is its promise, so a storefront can keep
    a cache of labels from this stream alone.

    Sent once per change of what a storefront shows, never per order: the available units ride along as
    of the change, and move without an event while the label holds. ``ship_by`` and
    ``estimated_delivery`` are for one unit ordered at ``as_of`` by a buyer in the seller's own region;
    dates move with the calendar, so for another day or region compute them from the inputs given
    (``dispatch_days`` in the seller's region and zone, as ``GET /skus/{sku}/promise`` does) or ask that
    route.
    """

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "sku_id": "sku-42", "orderable": True, "label": "on_back_order", "available_regular": 0,
        "available_backorder": 100, "handling_days": 5, "dispatch_days": 5, "seller_region": "US",
        "seller_timezone": "America/New_York", "ship_by": "2026-12-11", "estimated_delivery": "2026-12-18",
        "as_of": "2026-12-04T18:30:00Z",
    }]})

    sku_id: Id
    orderable: bool = Field(description="Can one unit be ordered now (false only when out of stock)")
    label: PromiseLabel = Field(description="What a product page shows for one unit (R24)",
                                examples=["on_back_order"])
    available_regular: int = Field(ge=0, description="Regular units promisable now (the SKU's ATP)")
    available_backorder: int = Field(ge=0, description="Backorder units sellable now (0 while not on backorder)")
    handling_days: int | None = Field(description="The SKU's backorder handling time in business days (R05)")
    dispatch_days: int | None = Field(
        description="Business days from the order day to ship-by for one unit now: the standard dispatch time "
                    "when in stock, the handling time when on back order, null when out of stock")
    seller_region: str | None = Field(description="The region whose calendar dates the ship-by (None: unknown)")
    seller_timezone: str | None = Field(description="The zone the cut-off is read in (None: unknown)")
    ship_by: date | None = Field(description="Ship-by of one unit ordered at as_of, null when out of stock")
    estimated_delivery: date | None = Field(
        description="Estimated delivery of that unit to a buyer in the seller's region")
    as_of: datetime = Field(description="When the promise changed")


INVENTORY_EVENTS: tuple[type[Payload], ...] = (
    StockAllocated,
    AllocationRejected,
    BackorderReleased,
    StockChanged,
    LowStock,
    BackorderStockExhausted,
    PromiseChanged,
    BackorderProjected,
    ReceiptMismatch,
    TransferPolicySet,
    CommandRejected,
)
