"""Recording what happened to a claimed email, each result in its own transaction, at once (R22): ``sent`` with
its ``NotificationSent`` in one statement (the one that closes the window), ``pending`` again with backoff, or
``failed`` with ``NotificationFailed``; every record rides out a short database outage."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import structlog

from services.notifications import domain, metrics
from services.notifications.domain import OutgoingEmail
from services.notifications.repository import NotificationsRepository
from services.notifications.settings import NotificationsSettings
from services.notifications.unit_of_work import PRODUCER, NotificationsUnitOfWork
from shared.cause import Cause
from shared.contract.notifications import NotificationFailed, NotificationSent
from shared.contract.topics import NOTIFICATIONS_EVENTS_TOPIC as EVENTS
from shared.messaging.outbox import OutboxRelay
from shared.persistence.db import DATABASE_DOWN, Conn
from shared.persistence.uow import Emitter, transaction

log = structlog.get_logger(__name__)


def cause_of(caused_by: uuid.UUID | None, correlation_id: uuid.UUID | None) -> Cause | None:
    return Cause(caused_by, correlation_id or uuid.uuid4()) if caused_by else None


class Recorder:
    def __init__(self, pool: asyncpg.Pool, settings: NotificationsSettings,
                 uow_factory: Callable[[Conn], NotificationsUnitOfWork], rng: random.Random,
                 relay: OutboxRelay | None = None) -> None:
        self.pool = pool
        self.settings = settings
        self.uow_factory = uow_factory
        self.rng = rng
        #: the process's outbox relay, handed the announcement a ``sent`` record wrote (it need not read it back)
        self.relay = relay

    async def sent(self, email: OutgoingEmail, token: uuid.UUID) -> None:
        """One statement (one round trip, the smallest window): marked sent, and announced."""
        announcement = Emitter(PRODUCER)
        with announcement.caused_by(cause_of(email.caused_by, email.correlation_id)):
            announcement.emit(EVENTS, NotificationSent(
                notification_id=email.notification_id, order_id=email.order_id, buyer_id=email.buyer_id,
                seller_id=email.seller_id, sku_id=email.sku_id, channel="email", kind=email.kind,
                ship_by=email.ship_by, estimated_delivery=email.estimated_delivery, line_ids=list(email.line_ids),
                title=email.subject[:500],
            ), key=email.order_id or email.seller_id)

        async def record() -> None:
            record = announcement.pending[0]
            async with self.pool.acquire() as conn:
                outbox_id = await NotificationsRepository(conn).mark_sent_announced(
                    email.notification_id, token, record, notify=self.relay.token if self.relay else "")
            if outbox_id is not None and self.relay is not None:
                self.relay.settle([], [], [(outbox_id, record)])
            if outbox_id is None:
                metrics.EMAIL_LEASE_LOST.inc()
                log.error("email_sent_after_claim_lost", order_id=email.order_id,
                          notification_id=email.notification_id)
                return
            metrics.NOTIFICATIONS.labels("email", email.kind, "sent").inc()

        await self._retrying(record, what="email_sent_not_recorded", email=email)

    async def failure(self, email: OutgoingEmail, token: uuid.UUID, error: str, *, permanent: bool) -> str:
        outcome = domain.after_failure(email.attempts, self.settings.email_max_attempts, permanent)

        async def record(uow: NotificationsUnitOfWork) -> None:
            repo = uow.notifications
            if outcome == "retry":
                delay = domain.retry_delay(email.attempts, self.settings.email_retry_base_s,
                                           self.settings.email_retry_max_s, self.rng)
                await repo.mark_retry(email.notification_id, token, error, delay)
                return
            if await repo.mark_failed(email.notification_id, token, error):
                self.report_failed(uow, email.notification_id, email.order_id, email.buyer_id, email.kind,
                                    email.attempts, error, cause_of(email.caused_by, email.correlation_id),
                                    seller_id=email.seller_id, sku_id=email.sku_id)

        await self._in_transaction(record, what="email_result_not_recorded", email=email)
        return outcome

    def report_failed(self, uow: NotificationsUnitOfWork, notification_id: str, order_id: str | None,
                       buyer_id: str | None, kind: Any, attempts: int, error: str, cause: Cause | None, *,
                       seller_id: str | None = None, sku_id: str | None = None) -> None:
        with uow.caused_by(cause):
            uow.emit(EVENTS, NotificationFailed(
                notification_id=notification_id, order_id=order_id, buyer_id=buyer_id, seller_id=seller_id,
                sku_id=sku_id, channel="email", kind=kind, attempts=attempts, error=error,
            ), key=order_id or seller_id)
        metrics.NOTIFICATIONS.labels("email", kind, "failed").inc()
        log.warning("notification_failed", channel="email", order_id=order_id, notification_id=notification_id,
                    attempts=attempts, error=error)

    async def _in_transaction(self, work: Callable[[NotificationsUnitOfWork], Awaitable[None]], *, what: str,
                              email: OutgoingEmail) -> None:
        async def once() -> None:
            async with transaction(self.pool, self.uow_factory) as uow:
                await work(uow)
                uow.commit()

        await self._retrying(once, what=what, email=email)

    async def _retrying(self, record: Callable[[], Awaitable[None]], *, what: str, email: OutgoingEmail,
                        tries: int = 5) -> None:
        """Record a result, riding out a short database outage (every try made here shrinks the window)."""
        for attempt in range(1, tries + 1):
            try:
                await record()
                return
            except DATABASE_DOWN as exc:
                if attempt == tries:
                    # the claim's lease will bring it back: a possible duplicate, same Message-ID
                    log.error(what, order_id=email.order_id, notification_id=email.notification_id,
                              error=repr(exc))
                    return
                await asyncio.sleep(0.1 * 2 ** attempt)
