"""The SLA clock (R15): a background task that fires each due line exactly once.

Deadlines live in the database (``order_lines.due_at``), so they survive restarts. Each
round claims the due lines in one statement (``FOR UPDATE SKIP LOCKED``, see
``fire_due_lines``) and, in the same transaction, stamps them late, records the late
shipment against the seller and stages ``OrderShipmentLate`` in the outbox. With several
instances each claims different lines; a crash before commit leaves them due for the next
round. Time comes from the service's clock (``CLOCK=file:...`` in tests), never the
database's ``now()``. Between rounds the task sleeps until the next deadline, at most
``SLA_POLL_S`` (an injected clock may jump, and new orders may fall due sooner).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import cast

import asyncpg
import structlog

from services.orders import metrics
from services.orders.repository import OrderStore
from services.orders.settings import OrdersSettings
from services.orders.unit_of_work import OrdersUnitOfWork
from shared.clock import aware_now
from shared.contract.orders import OrderShipmentLate
from shared.contract.topics import ORDERS_EVENTS_TOPIC
from shared.persistence.db import Conn
from shared.persistence.uow import UnitOfWork, transaction
from shared.service import ServiceContext

log = structlog.get_logger(__name__)


async def fire_due(pool: asyncpg.Pool, uow_factory: Callable[[Conn], UnitOfWork], now: datetime,
                   limit: int) -> int:
    """Fire the lines due at ``now`` (at most ``limit``); return how many fired."""
    async with transaction(pool, uow_factory) as base:
        uow = cast(OrdersUnitOfWork, base)
        late = await uow.order_store.fire_due(now, limit)
        for item in late:
            uow.emit_in_flow(ORDERS_EVENTS_TOPIC, OrderShipmentLate(
                order_id=item.order_id, buyer_id=item.buyer_id, line_id=item.line_id, sku_id=item.sku_id,
                seller_id=item.seller_id, ship_by=item.ship_by, estimated_delivery=item.estimated_delivery,
            ), key=item.order_id, correlation_id=item.correlation_id)
        uow.commit()
    for item in late:
        metrics.LATE_SHIPMENTS.inc()
        metrics.SLA_FIRING_LAG.observe(max(0.0, (now - item.due_at).total_seconds()))
        log.info("shipment_late", order_id=item.order_id, line_id=item.line_id, seller_id=item.seller_id,
                 ship_by=item.ship_by.isoformat())
    return len(late)


async def _seconds_to_next_due(pool: asyncpg.Pool, uow_factory: Callable[[Conn], UnitOfWork],
                               now: datetime, cap: float) -> float:
    async with pool.acquire() as conn:
        next_due = await OrderStore(conn).next_due()
    if next_due is None:
        return cap
    return min(cap, max(0.0, (next_due - now).total_seconds()))


async def sla_clock(ctx: ServiceContext) -> None:
    settings = cast(OrdersSettings, ctx.settings)
    failures = 0
    while True:
        try:
            now = aware_now(ctx.clock)
            fired = await fire_due(ctx.pool, ctx.uow_factory, now, settings.sla_batch)
            failures = 0
            if fired >= settings.sla_batch:
                continue  # more may be due: no pause
            wait = await _seconds_to_next_due(ctx.pool, ctx.uow_factory, now, settings.sla_poll_s)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # database down: back off, the deadlines wait in the database
            failures += 1
            wait = min(5.0, 0.1 * 2 ** min(failures, 6))
            log.warning("sla_clock_retry", error=repr(exc), retry_in_s=wait)
        await asyncio.sleep(max(wait, 0.05))
