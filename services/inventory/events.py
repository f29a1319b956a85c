"""What the inventory aggregate (``stock.Stock``) records as it decides: domain events, plain values.

``wire.py`` turns each into the ``inventory.events`` message that tells other services, at one edge.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.inventory.domain import Level, Part, SellerView
from services.inventory.projection import QueuedPart
from services.inventory.promise import SellerTerms, UnitPromise


@dataclass(frozen=True)
class BackorderReleased:
    """Units filled a waiting part (R11, R19); ``ship_from`` another warehouse is a transfer (R31)."""

    order_id: str
    line_id: str
    sku_id: str
    warehouse_id: str
    qty: int
    receipt_id: str | None
    ship_from: str


@dataclass(frozen=True)
class LevelShown:
    """A warehouse's level and what its seller sees of it, which changed (R10)."""

    level: Level
    view: SellerView


@dataclass(frozen=True)
class LowStock:
    """The SKU's total available stock fell below the seller's threshold (R10, R32)."""

    sku_id: str
    seller_id: str | None
    available_to_promise: int
    total_available: int
    threshold: int


@dataclass(frozen=True)
class BackorderRanOut:
    """The SKU's backorder stock ran out while it stays on backorder (R32)."""

    sku_id: str
    seller_id: str | None
    available_to_promise: int
    backorder_allocated: int


@dataclass(frozen=True)
class TransferPolicyChanged:
    sku_id: str
    allowed: bool
    warehouses: tuple[str, ...] | None


@dataclass(frozen=True)
class OrderAllocated:
    """Every line of the order has its parts (R07-R09): ``lines`` is ``(line_id, sku_id, parts)``."""

    order_id: str
    lines: tuple[tuple[str, str, tuple[Part, ...]], ...]


@dataclass(frozen=True)
class OrderRefused:
    order_id: str
    reason: str
    line_ids: tuple[str, ...]


@dataclass(frozen=True)
class BackorderProjected:
    """The projected fill days of these waiting parts moved (R28)."""

    sku_id: str
    parts: tuple[QueuedPart, ...]


@dataclass(frozen=True)
class ReceiptMismatch:
    """A receipt named an inbound it cannot fulfil; its units were received all the same (R28)."""

    receipt_id: str
    inbound_id: str
    sku_id: str
    warehouse_id: str
    qty: int
    reason: str


@dataclass(frozen=True)
class PromiseChanged:
    """What the storefront shows of the SKU changed (R25)."""

    sku_id: str
    unit: UnitPromise
    handling_days: int | None
    seller: SellerTerms
    as_of: datetime


Event = (BackorderReleased | LevelShown | LowStock | BackorderRanOut | TransferPolicyChanged | OrderAllocated
         | OrderRefused | BackorderProjected | ReceiptMismatch | PromiseChanged)
