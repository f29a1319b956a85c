"""The email sender: drains the durable send queue in the database to the SMTP server (R22).

One round:

1. if an email is due, make sure a connection of the pool (``smtp_pool.py``) is open. If none can be,
   nothing is claimed and no attempt is counted (the server's fault, not a message's): the sender waits
   for the first connection's backoff and the queue waits. Nothing else waits on it: the consumer and the
   app channel never touch SMTP;
2. claim a batch of due emails in a short transaction, ``FOR UPDATE SKIP LOCKED``, marking
   them ``sending`` with a claim token and a lease, and counting the attempt. Concurrent
   senders (any number of instances) take disjoint batches; a claim whose sender died is
   due again when its lease ends;
3. send them over up to ``SMTP_CONNECTIONS`` connections at once, each taking the next email of the batch
   when it is free (a slow or silent connection holds up only its own message), one message at a time,
   and record each result at once, in its own transaction (``recording.py``): ``sent`` (+
   ``NotificationSent{email}`` in the outbox, one statement), ``pending`` again with backoff, or ``failed``
   (+ ``NotificationFailed``) on a 5xx reply or after the last attempt. Claimed emails not tried (every
   connection broke, the lease is running out) go back untouched.

Exactly once, and the window that remains. The SMTP transaction cannot be part of the database
transaction, so there is an instant between the server's ``250`` to ``DATA`` and the commit of
``sent``. A crash (or a database outage that outlasts the retries of the ``sent`` update) inside it
sends that email again when the lease ends. We keep it as small as it can be: the update is the very
next thing a connection does after the ``250`` (no batching), it is retried on transient database
errors, a stop signal lets the messages in ``DATA`` finish and be recorded (the send and its record are
shielded from cancellation) while no connection starts another (``mail.SendBy``), and a message is
never started on a lease that could run out before it is recorded. Each connection has its own window
of one email, so **a crash sends at most ``SMTP_CONNECTIONS`` emails twice** (one per connection), each
with the same ``Message-ID`` (derived from the notification id), which a mail system that deduplicates
on it drops.
"""


from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Literal, TypeVar, cast

import asyncpg
import structlog
from asyncpg.pool import PoolConnectionProxy

from services.notifications import metrics
from services.notifications.domain import OutgoingEmail
from services.notifications.mail import DeliveryError, MailSession, MailTransport, NotSent, SendBy, SmtpUnavailable
from services.notifications.message import MessageBuilder
from services.notifications.recording import Recorder, cause_of
from services.notifications.repository import NotificationsRepository
from services.notifications.settings import NotificationsSettings
from services.notifications.smtp_pool import Connection, SmtpPool
from services.notifications.unit_of_work import NotificationsUnitOfWork
from shared.messaging.outbox import OutboxRelay
from shared.observability.http import Readiness
from shared.persistence.db import DATABASE_DOWN, Conn
from shared.persistence.uow import transaction

log = structlog.get_logger(__name__)

T = TypeVar("T")
CHANNEL = "notification_email"
_RECORD_BUDGET_S = 5.0  # time kept in hand on a lease to record a result


Outcome = Literal["sent", "refused", "failed", "connection_lost", "not_sent"]


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
        relay: OutboxRelay | None = None,
    ) -> None:
        self.pool = pool
        self.settings = settings
        self.uow_factory = uow_factory
        self.smtp = SmtpPool(transport, settings)
        self.readiness = readiness
        self.record = Recorder(pool, settings, uow_factory, rng or random.Random(), relay)
        self.messages = MessageBuilder(settings)
        self._wake = asyncio.Event()
        self._listener: PoolConnectionProxy | None = None
        self._smtp_failures = 0

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
            await self._shielded(self.smtp.close())
            await self._drop_listener()

    def _smtp_down(self, error: str) -> float:
        """No connection could be opened: wait for the first one's backoff to end."""
        self._smtp_failures += 1
        metrics.SMTP_UP.set(0)
        if self.readiness is not None:
            self.readiness.details["smtp"] = "down"
        delay = max(self.smtp.next_reconnect_in(), 0.01)
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
        """Send one batch of due emails; return how many were claimed. With nothing due, connections idle for
        a while are closed (a server drops an idle connection in the end, and an attempt is spent finding out).
        The claim is one statement (its own transaction); it is released only if an email of it was left
        without a result recorded (SMTP down, a stop, a lease running out)."""
        token = uuid.uuid4()
        claimed: list[OutgoingEmail] = []
        finished: list[OutgoingEmail] = []
        try:
            started = time.monotonic()
            async with self.pool.acquire() as conn:
                claimed = await NotificationsRepository(conn).claim_emails(
                    token, self.settings.email_batch, self.settings.email_lease_s
                )
            if not claimed:
                await self.smtp.close_idle()
                return 0
            connections = await self.smtp.ensure(len(claimed))
            self._smtp_up()
            # never send a message whose claim could be taken over before its result is recorded: checked
            # before each message starts, and again when its DATA is about to go
            send_by = SendBy(started + self.settings.email_lease_s - self.settings.smtp_timeout_s - _RECORD_BUDGET_S)
            queue: asyncio.Queue[OutgoingEmail] = asyncio.Queue()
            for email in claimed:
                queue.put_nowait(email)
            await self._all_finished([asyncio.ensure_future(self._connection_drains(c, queue, token, send_by,
                                                                                    finished))
                                      for c in connections])
            return len(claimed)
        finally:
            if len(finished) < len(claimed):
                await self._shielded(self._release(token))

    @staticmethod
    async def _all_finished(deliveries: list[asyncio.Future[None]]) -> None:
        """Wait for every connection's work, whatever happens to one of them or to this task: the claim is
        released after this, and a message still in flight then could be claimed and sent again. (A
        cancelled ``gather`` waits for its children too: on a stop each finishes its message in flight.)"""
        outcomes = await asyncio.gather(*deliveries, return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome

    async def _connection_drains(self, connection: Connection, queue: asyncio.Queue[OutgoingEmail],
                                 token: uuid.UUID, send_by: SendBy, finished: list[OutgoingEmail]) -> None:
        """One connection takes the batch's next email until none is left: one at a time, each recorded
        before the next (R22's window of one email per connection). ``finished``: those with a result."""
        while connection.session is not None and not queue.empty():
            pause = connection.send_at - time.monotonic()
            if pause > 0:  # refused for now: slow down before the next message on this connection
                await asyncio.sleep(min(pause, max(0.0, send_by.at - time.monotonic())))
            if send_by.passed() or queue.empty():  # (the others may have taken the rest during the pause)
                return
            email = queue.get_nowait()
            outcome, error = await self._shielded(self._deliver(connection.session, email, token, send_by), send_by)
            if outcome != "not_sent":
                finished.append(email)
            self.smtp.used(connection)
            if outcome == "connection_lost":
                await self._shielded(self.smtp.lost(connection, error))
            elif outcome == "not_sent":
                return  # this message and the rest go back with the claim's release
            elif outcome == "refused":
                self.smtp.refused(connection)
            elif outcome == "sent":
                self.smtp.accepted(connection)

    async def _release(self, token: uuid.UUID) -> None:
        async with self.pool.acquire() as conn:
            await NotificationsRepository(conn).release(token)

    async def _shielded(self, work: Awaitable[T], send_by: SendBy | None = None) -> T:
        """Let a stop signal wait for the messages in flight to be sent and recorded (they cannot be undone);
        no connection starts another (``send_by`` stops), so the wait is for one server reply per
        connection at most."""
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
                       send_by: SendBy | None = None) -> tuple[Outcome, str]:
        bound = log.bind(order_id=email.order_id, notification_id=email.notification_id, kind=email.kind,
                         attempt=email.attempts)
        if email.recipient is None:
            unknown = "seller_contact_unknown" if email.seller_id else "buyer_contact_unknown"
            await self.record.failure(email, token, unknown, permanent=True)
            return "failed", unknown
        if email.attempts > self.settings.email_max_attempts:  # its sender died on every attempt
            await self.record.failure(email, token, "gave up: the sender stopped during every attempt",
                                      permanent=True)
            return "failed", "gave up"
        message = self.messages.wire(email)
        started = time.perf_counter()
        try:
            await session.send(message, send_by)
        except NotSent as why:
            bound.info("email_not_sent", reason=str(why))
            return "not_sent", str(why)  # untried: back to the queue with the claim's release
        except DeliveryError as err:
            result = "permanent" if err.permanent else "connection" if err.connection_lost else "transient"
            metrics.EMAIL_ATTEMPTS.labels(result).inc()
            bound.warning("email_attempt_failed", error=err.error, permanent=err.permanent)
            await self.record.failure(email, token, err.error, permanent=err.permanent)
            if err.connection_lost:
                return "connection_lost", err.error
            return ("failed" if err.permanent else "refused"), err.error
        # ---- the window opens: the server has the message, the database does not know yet
        await self.record.sent(email, token)
        # ---- and closes: this connection may send its next message
        metrics.EMAIL_ATTEMPTS.labels("ok").inc()
        metrics.EMAIL_SEND_SECONDS.observe(time.perf_counter() - started)
        bound.info("notification_sent", channel="email")
        return "sent", ""

    # ------------------------------------------------------------ housekeeping

    async def housekeeping(self) -> None:
        """Fail what waited too long (SMTP down for days), and report the queue."""
        async with transaction(self.pool, self.uow_factory) as uow:
            for e in await uow.notifications.expire_emails(self.settings.email_expire_after_s):
                self.record.report_failed(uow, e.notification_id, e.order_id, e.buyer_id, e.kind, e.attempts,
                                          e.error, cause_of(e.caused_by, e.correlation_id), seller_id=e.seller_id,
                                          sku_id=e.sku_id)
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
    return EmailSender(ctx.pool, settings, factory, transport or SmtpTransport(settings), readiness=ctx.readiness,
                       relay=ctx.relay)
