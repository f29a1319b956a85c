"""The orders unit of work: the three stores on one transaction, the dating policy, the outbox."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any

from services.orders.domain import Order, SkuTerms
from services.orders.ports import CatalogPort, OrderStorePort, StockPort
from services.orders.repository import CatalogView, OrderStore, StockView
from services.orders.settings import OrdersSettings
from shared.clock import Clock
from shared.contract.envelope import Envelope, Payload
from shared.contract.topics import Topic
from shared.dates import DatingPolicy
from shared.persistence.db import Conn
from shared.persistence.uow import UnitOfWork, build_record


def dating_policy(settings: OrdersSettings) -> DatingPolicy:
    return settings.dating_policy()


class OrdersUnitOfWork(UnitOfWork):
    """``ports.OrdersUoW`` on PostgreSQL."""

    def __init__(self, conn: Conn, settings: OrdersSettings, clock: Clock) -> None:
        super().__init__(conn, producer="orders", clock=clock)
        self.order_store = OrderStore(self.conn)
        self.orders: OrderStorePort = self.order_store
        self.catalog: CatalogPort = CatalogView(self.conn)
        self.stock: StockPort = StockView(self.conn)
        self.dating = dating_policy(settings)
        self.settings = settings

    async def orders_and_terms(self, order_ids: Sequence[str], sku_ids: Sequence[str] = (), *,
                               lock: bool = False) -> tuple[dict[str, Order], dict[str, SkuTerms]]:
        return await self.order_store.get_many_and_terms(order_ids, sku_ids, lock=lock)

    def emit_in_flow(self, topic: Topic, payload: Payload, *, key: str,
                     correlation_id: uuid.UUID | None) -> Envelope[Any]:
        """Emit a message no consumed message caused (a timer's), in the order's own flow."""
        envelope: Envelope[Any] = Envelope(
            type=payload.message_type, producer=self.outbox.producer,
            correlation_id=correlation_id or uuid.uuid4(), causation_id=None, payload=payload,
        )
        self.outbox.pending.append(build_record(topic.name, key, envelope))
        return envelope


def make_uow(settings: OrdersSettings, clock: Clock) -> Callable[[Conn], OrdersUnitOfWork]:
    return lambda conn: OrdersUnitOfWork(conn, settings, clock)
