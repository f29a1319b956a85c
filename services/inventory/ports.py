"""What the inventory handlers need from the outside world, as protocols.

``repository.InventoryRepository`` (PostgreSQL) implements ``InventoryStore``, and
``unit_of_work.InventoryUnitOfWork`` implements ``InventoryUow``. Handlers are typed against
these, so a test can hand them an in-memory fake instead of a database.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Protocol

from services.inventory.domain import HeldPart, Level, Movement, WaitingPart
from services.inventory.promise import SellerTerms
from services.inventory.repository import Locked, Why
from shared.clock import Clock
from shared.contract.envelope import Payload
from shared.contract.topics import Topic
from shared.dates import DatingPolicy
from shared.persistence.uow import Cause


class InventoryStore(Protocol):
    """Stock levels, their ledger and allocation parts. Writes to a SKU's levels, policy or parts
    happen after ``lock`` took that SKU in the same transaction."""

    async def lock(self, sku_ids: Iterable[str], *, ensure_skus: bool = False,
                   ensure_levels: Iterable[tuple[str, str]] = ()) -> Locked: ...

    async def save_levels(self, locked: Locked) -> list[Level]: ...

    async def set_owner(self, sku_id: str, seller_id: str) -> None: ...

    async def set_backorder_enabled(self, sku_id: str, seller_id: str | None, enabled: bool) -> None: ...

    async def set_handling_days(self, sku_id: str, handling_days: int) -> None: ...

    async def save_seller(self, seller_id: str, region: str, timezone: str) -> None: ...

    async def seller_terms(self, sku_id: str) -> SellerTerms: ...

    async def set_stock_policy(self, sku_id: str, safety_stock: int, threshold: int | None) -> None: ...

    async def set_low_stock_alerted(self, sku_id: str, alerted: bool) -> None: ...

    async def record(self, entries: Sequence[tuple[Movement, Why]]) -> None: ...

    async def decided(self, order_ids: Sequence[str]) -> set[str]: ...

    async def record_decisions(self, decisions: Sequence[tuple[str, bool, datetime]]) -> None: ...

    async def insert_parts(self, parts: Sequence[dict[str, Any]]) -> None: ...

    async def waiting(self, sku_id: str, warehouse_id: str, units: int) -> list[WaitingPart]: ...

    async def held(self, order_id: str, line_ids: Sequence[str], *, lock: bool = False) -> list[HeldPart]: ...

    async def set_part_state(self, part: HeldPart | WaitingPart, state: str) -> None: ...

    async def split_part(self, part: WaitingPart, filled_qty: int) -> None: ...

    async def ship_some(self, part: HeldPart, qty: int) -> None: ...

    async def set_priority(self, order_id: str, sku_id: str, priority: int) -> int: ...

    async def new_receipt(self, receipt_id: str, sku_id: str, warehouse_id: str, qty: int) -> bool: ...


class InventoryUow(Protocol):
    """One transaction: the store on it, the message being handled, and the outbox."""

    @property
    def inventory(self) -> InventoryStore: ...

    @property
    def cause(self) -> Cause | None: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def dating(self) -> DatingPolicy: ...

    def caused_by(self, cause: Cause | None) -> AbstractContextManager[None]:
        """Messages emitted in the block were caused by ``cause`` (a batch handler's, per message)."""
        ...

    def emit(self, topic: Topic | str, payload: Payload, *, key: str | None) -> Any: ...
