"""The email sender: drains the durable send queue in the database to the SMTP server (R22).

One round:

1. if an email is due, open an SMTP session. If the server cannot be reached, nothing is
   claimed and no attempt is counted (the server's fault, not a message's): the sender
   backs off (capped) and the queue waits. Nothing else waits on it: the consumer and the
   app channel never touch SMTP;
2. claim a batch of due emails in a short transaction, ``FOR UPDATE SKIP LOCKED``, marking
   them ``sending`` with a claim token and a lease, and counting the attempt. Concurrent
   senders (any number of instances) take disjoint batches; a claim whose sender died is
   due again when its lease ends;
3. send them over up to ``email_sessions`` SMTP sessions at once (one message at a time on each, and
   one ``DATA`` at a time over all of them: the window, below), and record each result at once, in
   its own transaction: ``sent`` (+ ``NotificationSent{email}`` in the outbox, one statement),
   ``pending`` again with backoff, or
   ``failed`` (+ ``NotificationFailed``) on a 5xx reply or after the last attempt. Claimed
   emails not tried (the session broke, the lease is running out) go back untouched.

Exactly once, and the one window that remains. The SMTP transaction cannot be part of the
database transaction, so there is an instant between the server's ``250`` to ``DATA`` and
the commit of ``sent``. A crash (or a database outage that outlasts the retries of the
``sent`` update) inside it sends that email again when the lease ends. We keep it as small
as it can be: the update is the very next thing done after the ``250`` (no batching), it is
retried on transient database errors, a stop signal lets the message in ``DATA`` finish and be
recorded (the send and its record are shielded from cancellation) while sessions still waiting
for their turn send nothing (``mail.SendBy``), and a message is never
started on a lease that could run out before it is recorded. The resent copy carries the
same ``Message-ID`` (derived from the notification id), so a mail system that deduplicates
on it drops it. Several SMTP sessions do not widen it: they prepare their messages side by side
(envelope, ``MAIL``, ``RCPT``) but take turns from ``DATA`` to the record (``mail._WindowedSMTP``),
so one email at most is ever between the server's ``250`` and its record.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

import asyncpg
import structlog
from asyncpg.pool import PoolConnectionProxy

from services.notifications import domain, metrics
from services.notifications.domain import OutgoingEmail
from services.notifications.mail import (
    DeliveryError,
    MailSession,
    MailTransport,
    NotSent,
    SendBy,
    SmtpUnavailable,
)
from services.notifications.message import MessageBuilder
from services.notifications.repository import NotificationsRepository
from services.notifications.settings import NotificationsSettings
from services.notifications.unit_of_work import PRODUCER, NotificationsUnitOfWork
from shared.contract.notifications import NotificationFailed, NotificationSent
from shared.contract.topics import NOTIFICATIONS_EVENTS_TOPIC as EVENTS
from shared.observability.http import Readiness
from shared.persistence.db import DATABASE_DOWN, Conn
from shared.persistence.uow import Cause, Emitter, transaction

log = structlog.get_logger(__name__)

T = TypeVar("T")
CHANNEL = "notification_email"
_RECORD_BUDGET_S = 5.0  # time kept in hand on a lease to record a result


def _cause(caused_by: uuid.UUID | None, correlation_id: uuid.UUID | None) -> Cause | None:
    return Cause(caused_by, correlation_id or uuid.uuid4()) if caused_by else None


class EmailSender:
    def __init__(
        self,
        pool: asyncpg.Pool,
        settings: NotificationsSettings,
        uow_factory: Callable[[Conn], NotificationsUnitOfWork],
        transport: MailTransport,
        *,
        readiness: Readiness | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.pool = pool
        self.settings = settings
        self.uow_factory = uow_factory
        self.transport = transport
        self.readiness = readiness
        self.rng = rng or random.Random()
        self._wake = asyncio.Event()
        self._listener: PoolConnectionProxy | None = None
        self._smtp_failures = 0
        self.messages = MessageBuilder(settings)

    # ------------------------------------------------------------ the loop

    async def run(self) -> None:
        failures = 0
        housekeeping_at = 0.0
        try:
            while True:
                try:
                    await self._ensure_listener()
                    if time.monotonic() >= housekeeping_at:
                        await self.housekeeping()
                        housekeeping_at = time.monotonic() + 5.0
                    self._wake.clear()
                    claimed = await self.send_due()
                    failures = 0
                    if claimed >= self.settings.email_batch:
                        continue
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), self.settings.email_poll_s)
                except SmtpUnavailable as exc:
                    await asyncio.sleep(self._smtp_down(str(exc)))
                except DATABASE_DOWN as exc:
                    failures += 1
                    delay = min(5.0, 0.1 * 2 ** min(failures, 6))
                    log.warning("email_sender_retry", error=repr(exc), retry_in_s=delay)
                    await self._drop_listener()
                    await asyncio.sleep(delay)
        finally:
            await self._drop_listener()

    def _smtp_down(self, error: str) -> float:
        self._smtp_failures += 1
        metrics.SMTP_UP.set(0)
        if self.readiness is not None:
            self.readiness.details["smtp"] = "down"
        s = self.settings
        delay = min(s.smtp_reconnect_max_s, s.smtp_reconnect_base_s * 2 ** min(self._smtp_failures - 1, 16))
        log.warning("smtp_unavailable", error=error, failures=self._smtp_failures, retry_in_s=round(delay, 2))
        return delay

    def _smtp_up(self) -> None:
        if self._smtp_failures:
            log.info("smtp_available_again", after_failures=self._smtp_failures)
        self._smtp_failures = 0
        metrics.SMTP_UP.set(1)
        if self.readiness is not None:
            self.readiness.details["smtp"] = "up"

    # ------------------------------------------------------------ one round

    async def send_due(self) -> int:
        """Send one batch of due emails; return how many were claimed."""
        async with self.pool.acquire() as conn:
            if not await NotificationsRepository(conn).any_email_due():
                return 0
        sessions = [await self.transport.connect()]
        self._smtp_up()
        token = uuid.uuid4()
        claimed: list[OutgoingEmail] = []
        try:
            started = time.monotonic()
            async with self.pool.acquire() as conn, conn.transaction():
                claimed = await NotificationsRepository(conn).claim_emails(
                    token, self.settings.email_batch, self.settings.email_lease_s
                )
            sessions += await self._more_sessions(min(self.settings.email_sessions, len(claimed)) - 1)
            # each session takes every n-th email: one reply waited for at a time per session, n at once
            # never send a message whose claim could be taken over before its result is recorded: checked
            # before it starts, and again when its turn for DATA comes (it may wait behind other sessions)
            send_by = SendBy(started + self.settings.email_lease_s - self.settings.smtp_timeout_s - _RECORD_BUDGET_S)
            await self._all_finished([
                asyncio.ensure_future(self._deliver_in_turn(session, claimed[i::len(sessions)], token, send_by))
                for i, session in enumerate(sessions)])
            return len(claimed)
        finally:
            if claimed:
                await self._shielded(self._release(token))
            for session in sessions:
                await session.close()

    @staticmethod
    async def _all_finished(deliveries: list[asyncio.Future[None]]) -> None:
        """Wait for every session's share, whatever happens to one of them or to this task: the claim is
        released after this, and a message still in flight then could be claimed and sent again. (A
        cancelled ``gather`` waits for its children too: on a stop each finishes its message in flight.)"""
        outcomes = await asyncio.gather(*deliveries, return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome

    async def _more_sessions(self, wanted: int) -> list[MailSession]:
        """Up to ``wanted`` more sessions; a server that refuses them leaves the batch to those open."""
        sessions: list[MailSession] = []
        for _ in range(max(0, wanted)):
            try:
                sessions.append(await self.transport.connect())
            except SmtpUnavailable as exc:
                log.info("smtp_extra_session_refused", error=str(exc), open=len(sessions) + 1)
                break
        return sessions

    async def _deliver_in_turn(self, session: MailSession, emails: list[OutgoingEmail], token: uuid.UUID,
                               send_by: SendBy) -> None:
        for email in emails:
            if send_by.passed():
                return
            if await self._shielded(self._deliver(session, email, token, send_by), send_by) in ("connection_lost",
                                                                                                 "not_sent"):
                return  # the rest of this session's share goes back with the claim's release

    async def _release(self, token: uuid.UUID) -> None:
        async with self.pool.acquire() as conn:
            await NotificationsRepository(conn).release(token)

    async def _shielded(self, work: Awaitable[T], send_by: SendBy | None = None) -> T:
        """Let a stop signal wait for the message in flight to be sent and recorded (it cannot be undone);
        a message still waiting for its turn for DATA is not sent (``send_by`` stops), so the wait is for
        the one message in DATA at most, whatever the number of sessions."""
        task = asyncio.ensure_future(work)
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            if send_by is not None:
                send_by.stop()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, self.settings.smtp_timeout_s + _RECORD_BUDGET_S)
            raise

    async def _deliver(self, session: MailSession, email: OutgoingEmail, token: uuid.UUID,
                       send_by: SendBy | None = None) -> str:
        bound = log.bind(order_id=email.order_id, notification_id=email.notification_id, kind=email.kind,
                         attempt=email.attempts)
        if email.recipient is None:
            unknown = "seller_contact_unknown" if email.seller_id else "buyer_contact_unknown"
            await self._record_failure(email, token, unknown, permanent=True)
            return "failed"
        if email.attempts > self.settings.email_max_attempts:  # its sender died on every attempt
            await self._record_failure(email, token, "gave up: the sender stopped during every attempt",
                                       permanent=True)
            return "failed"
        message = self.messages.wire(email)
        started = time.perf_counter()
        try:
            try:
                await session.send(message, send_by)
            except NotSent as why:
                bound.info("email_not_sent", reason=str(why))
                return "not_sent"  # untried: back to the queue with the claim's release
            except DeliveryError as err:
                result = "permanent" if err.permanent else "connection" if err.connection_lost else "transient"
                metrics.EMAIL_ATTEMPTS.labels(result).inc()
                bound.warning("email_attempt_failed", error=err.error, permanent=err.permanent)
                outcome = await self._record_failure(email, token, err.error, permanent=err.permanent)
                return "connection_lost" if err.connection_lost else outcome
            # ---- the window opens: the server has the message, the database does not know yet
            await self._record_sent(email, token)
            # ---- and closes
        finally:
            session.recorded()  # the next session may send its DATA (one email in the window at a time)
        metrics.EMAIL_ATTEMPTS.labels("ok").inc()
        metrics.EMAIL_SEND_SECONDS.observe(time.perf_counter() - started)
        bound.info("notification_sent", channel="email")
        return "sent"

    async def _record_sent(self, email: OutgoingEmail, token: uuid.UUID) -> None:
        """One statement (one round trip, the smallest window): marked sent, and announced."""
        announcement = Emitter(PRODUCER)
        with announcement.caused_by(_cause(email.caused_by, email.correlation_id)):
            announcement.emit(EVENTS, NotificationSent(
                notification_id=email.notification_id, order_id=email.order_id, buyer_id=email.buyer_id,
                seller_id=email.seller_id, sku_id=email.sku_id, channel="email", kind=email.kind,
                ship_by=email.ship_by, estimated_delivery=email.estimated_delivery, line_ids=list(email.line_ids),
                title=email.subject[:500],
            ), key=email.order_id or email.seller_id)

        async def record() -> None:
            async with self.pool.acquire() as conn:
                marked = await NotificationsRepository(conn).mark_sent_announced(
                    email.notification_id, token, announcement.pending[0])
            if not marked:
                metrics.EMAIL_LEASE_LOST.inc()
                log.error("email_sent_after_claim_lost", order_id=email.order_id,
                          notification_id=email.notification_id)
                return
            metrics.NOTIFICATIONS.labels("email", email.kind, "sent").inc()

        await self._retrying(record, what="email_sent_not_recorded", email=email)

    async def _record_failure(self, email: OutgoingEmail, token: uuid.UUID, error: str, *, permanent: bool) -> str:
        outcome = domain.after_failure(email.attempts, self.settings.email_max_attempts, permanent)

        async def record(uow: NotificationsUnitOfWork) -> None:
            repo = uow.notifications
            if outcome == "retry":
                delay = domain.retry_delay(email.attempts, self.settings.email_retry_base_s,
                                           self.settings.email_retry_max_s, self.rng)
                await repo.mark_retry(email.notification_id, token, error, delay)
                return
            if await repo.mark_failed(email.notification_id, token, error):
                self._report_failed(uow, email.notification_id, email.order_id, email.buyer_id, email.kind,
                                    email.attempts, error, _cause(email.caused_by, email.correlation_id),
                                    seller_id=email.seller_id, sku_id=email.sku_id)

        await self._in_transaction(record, what="email_result_not_recorded", email=email)
        return outcome

    def _report_failed(self, uow: NotificationsUnitOfWork, notification_id: str, order_id: str | None,
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

    # ------------------------------------------------------------ housekeeping

    async def housekeeping(self) -> None:
        """Fail what waited too long (SMTP down for days), and report the queue."""
        async with transaction(self.pool, self.uow_factory) as uow:
            for e in await uow.notifications.expire_emails(self.settings.email_expire_after_s):
                self._report_failed(uow, e.notification_id, e.order_id, e.buyer_id, e.kind, e.attempts, e.error,
                                    _cause(e.caused_by, e.correlation_id), seller_id=e.seller_id, sku_id=e.sku_id)
            stats = await uow.notifications.email_queue_stats()
            uow.commit()
        metrics.EMAIL_QUEUE.labels("pending").set(stats["pending"])
        metrics.EMAIL_QUEUE.labels("sending").set(stats["sending"])
        metrics.EMAIL_OLDEST_DUE_AGE.set(max(0.0, stats["oldest_due_s"]))

    # ------------------------------------------------------------ wake-ups

    async def _ensure_listener(self) -> None:
        if self._listener is not None and not self._listener.is_closed():
            return
        self._listener = await self.pool.acquire()
        await self._listener.add_listener(CHANNEL, self._on_notify)

    async def _drop_listener(self) -> None:
        listener, self._listener = self._listener, None
        if listener is None:
            return
        with contextlib.suppress(*DATABASE_DOWN):
            await listener.remove_listener(CHANNEL, self._on_notify)
        with contextlib.suppress(Exception):
            await self.pool.release(listener)

    def _on_notify(self, *_: Any) -> None:
        self._wake.set()


def sender_from(ctx: Any, transport: MailTransport | None = None) -> EmailSender:
    from services.notifications.mail import SmtpTransport

    settings = cast(NotificationsSettings, ctx.settings)
    factory = cast(Callable[[Conn], NotificationsUnitOfWork], ctx.uow_factory)
    return EmailSender(ctx.pool, settings, factory, transport or SmtpTransport(settings), readiness=ctx.readiness)
