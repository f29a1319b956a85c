"""orders.events and notifications.commands handlers: ``async def handler(message, uow)``.

Each orders.events handler keeps what it needs of the order (buyer contact, backordered lines and
their dates), decides with the domain what to tell, and hands the notice to ``tell``. The runtime
commits the transaction: the stored notifications, the app's ``NotificationSent`` in the
outbox and the email queued for the sender are durable together or not at all.

``mark_read`` is the buyer's app inbox command: the messages become read and ``NotificationsRead``
is staged in the same transaction, or a ``Rejection`` changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog

from services.notifications import domain, metrics
from services.notifications.domain import Buyer, Channel, LineState, Notice
from services.notifications.localization import DEFAULT_LOCALE
from services.notifications.ports import NotificationsUow
from services.notifications.rendering import Rendered
from services.notifications.repository import NotificationsRepository
from shared.contract import orders as o
from shared.contract.envelope import utcnow
from shared.contract.notifications import (
    MarkNotificationsRead,
    NotificationFailed,
    NotificationSent,
    NotificationsRead,
)
from shared.contract.topics import NOTIFICATIONS_EVENTS_TOPIC as EVENTS
from shared.domain import Rejection
from shared.messaging.decoding import Message
from shared.persistence.uow import Cause

log = structlog.get_logger(__name__)

UNKNOWN_BUYER = "buyer_contact_unknown: no OrderPlaced was seen for this order"


def app_sent_event(notice: Notice, rendered: Rendered) -> NotificationSent:
    """What a push gateway needs to deliver the app message (no email address, no name)."""
    return NotificationSent(
        notification_id=notice.notification_id("app"), order_id=notice.order_id, buyer_id=notice.buyer_id,
        channel="app", kind=notice.kind, ship_by=notice.ship_by, estimated_delivery=notice.estimated_delivery,
        line_ids=list(notice.line_ids), title=rendered.subject[:500], message=rendered.app[:500],
    )


async def tell(uow: NotificationsUow, notice: Notice | None) -> None:
    """Store the notice on both channels, once (R22): app delivered now, email queued for the sender."""
    if notice is None:
        return
    await tell_all(uow, [(notice, await uow.notifications.buyer(notice.order_id), uow.cause)])


async def tell_all(uow: NotificationsUow, notices: list[tuple[Notice, Buyer | None, Cause | None]]) -> None:
    """``tell`` for several notices: their notifications are stored in one statement, then each notice
    is announced as if told alone, in order (a notice repeated in the list is told once)."""
    told = [_Told(notice, buyer, cause, uow.renderer.render(notice, buyer)) for notice, buyer, cause in notices]
    stored = await uow.notifications.add_all([row for t in told for row in t.rows()])
    if any([t.announce(uow, stored) for t in told]):  # every notice announced, then one wake
        await uow.notifications.wake_senders()


@dataclass(frozen=True)
class _Told:
    """One notice on its way: what it stores on each channel, and what it says once stored."""

    notice: Notice
    buyer: Buyer | None
    cause: Cause | None
    rendered: Rendered

    @property
    def locale(self) -> str:
        return self.buyer.locale if self.buyer else DEFAULT_LOCALE

    def rows(self) -> list[dict[str, Any]]:
        def row(channel: Channel, status: str, error: str | None = None) -> dict[str, Any]:
            return NotificationsRepository.new_row(self.notice, channel, self.rendered, locale=self.locale,
                                                   status=status, cause=self.cause, error=error)

        if self.buyer is None:  # without an address there is nothing to retry: recorded failed, and said so
            return [row("app", "sent"), row("email", "failed", UNKNOWN_BUYER)]
        return [row("app", "sent"), row("email", "pending")]

    def announce(self, uow: NotificationsUow, stored: set[str]) -> bool:
        """Emit and count what was stored now (each id once: ``stored`` loses it); True if an email was
        queued for the sender."""
        with uow.caused_by(self.cause):
            return self._announce(uow, stored)

    def _announce(self, uow: NotificationsUow, stored: set[str]) -> bool:
        notice = self.notice
        bound = log.bind(order_id=notice.order_id, kind=notice.kind)
        app_id, email_id = notice.notification_id("app"), notice.notification_id("email")
        if app_id in stored:
            stored.discard(app_id)
            uow.emit(EVENTS, app_sent_event(notice, self.rendered), key=notice.order_id)
            metrics.NOTIFICATIONS.labels("app", notice.kind, "sent").inc()
            bound.info("notification_sent", channel="app", notification_id=app_id)
        else:
            metrics.NOTIFICATIONS.labels("app", notice.kind, "duplicate").inc()
            bound.info("notification_already_told", channel="app", notification_id=app_id)
        if email_id not in stored:
            if self.buyer is not None:
                metrics.NOTIFICATIONS.labels("email", notice.kind, "duplicate").inc()
                bound.info("notification_already_told", channel="email", notification_id=email_id)
            return False
        stored.discard(email_id)
        if self.buyer is None:
            uow.emit(EVENTS, NotificationFailed(
                notification_id=email_id, order_id=notice.order_id, buyer_id=notice.buyer_id, channel="email",
                kind=notice.kind, attempts=0, error=UNKNOWN_BUYER,
            ), key=notice.order_id)
            metrics.NOTIFICATIONS.labels("email", notice.kind, "failed").inc()
            bound.warning("notification_failed", channel="email", notification_id=email_id, error=UNKNOWN_BUYER)
            return False
        metrics.NOTIFICATIONS.labels("email", notice.kind, "created").inc()
        bound.info("notification_queued", channel="email", notification_id=email_id)
        return True


def _as_of(uow: NotificationsUow, cause: Cause | None = None) -> datetime:
    cause = cause or uow.cause
    return cause.occurred_at if cause and cause.occurred_at else utcnow()


async def order_placed(event: o.OrderPlaced, uow: NotificationsUow) -> None:
    buyer = Buyer(event.buyer_id, event.buyer_email, event.region, event.locale, event.timezone, event.placed_at)
    await uow.notifications.save_buyer(event.order_id, buyer)


async def order_accepted(event: o.OrderAccepted, uow: NotificationsUow) -> None:
    """R20."""
    await uow.notifications.save_lines(event.order_id, domain.lines_from_accepted(event), _as_of(uow))
    await tell(uow, domain.notice_accepted(event))


async def placed_and_accepted(messages: list[Message[o.OrderPlaced | o.OrderAccepted]],
                              uow: NotificationsUow) -> None:
    """``order_placed`` and ``order_accepted`` for a run of both, mixed, with the same effects: buyers
    and lines are written in one statement each, in arrival order; the buyers the notices need are
    read in one query; then each notice is told as ``tell`` does."""
    placed: dict[str, Buyer] = {}
    buyers: list[tuple[str, Buyer]] = []
    lines: list[tuple[str, list[LineState], datetime]] = []
    notices: list[tuple[Notice, Buyer | None, Cause]] = []
    for m in messages:
        event = m.payload
        if isinstance(event, o.OrderPlaced):
            buyer = Buyer(event.buyer_id, event.buyer_email, event.region, event.locale, event.timezone,
                          event.placed_at)
            buyers.append((event.order_id, buyer))
            placed.setdefault(event.order_id, buyer)  # the first one is kept, as the store does
            continue
        lines.append((event.order_id, domain.lines_from_accepted(event), _as_of(uow, m.cause)))
        notice = domain.notice_accepted(event)
        if notice is not None:
            notices.append((notice, placed.get(notice.order_id), m.cause))
    repo = uow.notifications
    # read before this run's buyers are written: a buyer stored before wins (the store keeps the
    # first), and a notice told before its order's OrderPlaced arrived has none, as one at a time
    stored = await repo.buyers([notice.order_id for notice, _, _ in notices])
    await repo.save_buyers(buyers)
    await repo.save_lines_of(lines)
    await tell_all(uow, [(notice, stored.get(notice.order_id) or placed_in_run, cause)
                         for notice, placed_in_run, cause in notices])


async def order_rejected(event: o.OrderRejected, uow: NotificationsUow) -> None:
    """R26: the buyer hears why the order was not accepted."""
    await tell(uow, domain.notice_rejected(event))


async def lines_released(event: o.LinesReleased, uow: NotificationsUow) -> None:
    """R21: released by a restock; the lines now carry the release's dates."""
    known = await uow.notifications.lines(event.order_id)
    notice = domain.notice_released(event, known)
    updated = [LineState(i.line_id, i.sku_id, i.qty, known[i.line_id].backorder_qty, i.ship_by,
                         i.estimated_delivery) for i in notice.items if i.line_id in known]
    await uow.notifications.save_lines(event.order_id, updated, _as_of(uow))
    await tell(uow, notice)


async def lines_shipped(event: o.LinesShipped, uow: NotificationsUow) -> None:
    """R21."""
    await tell(uow, domain.notice_shipped(event, await uow.notifications.lines(event.order_id)))


async def shipment_late(event: o.OrderShipmentLate, uow: NotificationsUow) -> None:
    """R15, R21: late, with the option to cancel."""
    await tell(uow, domain.notice_late(event, await uow.notifications.lines(event.order_id)))


async def backorder_delayed(event: o.BackorderDelayed, uow: NotificationsUow) -> None:
    """R21: a delay alert with the old and the new dates."""
    known = await uow.notifications.lines(event.order_id)
    if event.line_id in known:
        await uow.notifications.save_lines(event.order_id, [domain.apply_delay(known[event.line_id], event)],
                                           _as_of(uow))
    await tell(uow, domain.notice_delayed(event, known))


async def lines_cancelled(event: o.LinesCancelled, uow: NotificationsUow) -> None:
    """R21."""
    await tell(uow, domain.notice_cancelled(event, await uow.notifications.lines(event.order_id)))


async def refund_requested(event: o.RefundRequested, uow: NotificationsUow) -> None:
    """R18, R21."""
    await tell(uow, domain.notice_refunded(event, await uow.notifications.lines(event.order_id)))


# ---------------------------------------------------------------- the buyer's app inbox


async def mark_read(cmd: MarkNotificationsRead, uow: NotificationsUow) -> None:
    """The buyer read app messages (R20's inbox): named ones must all be this buyer's app messages."""
    domain.check_inbox_owner(uow.cause.principal if uow.cause else None, cmd.buyer_id)
    named = [str(i) for i in dict.fromkeys(cmd.notification_ids)] if cmd.notification_ids else None
    if named:
        foreign = await uow.notifications.foreign_app_ids(cmd.buyer_id, named)
        if foreign:
            raise Rejection("unknown_notification",
                            f"not app messages of buyer {cmd.buyer_id}: {', '.join(sorted(foreign)[:10])}")
    marked = await uow.notifications.mark_read(cmd.buyer_id, named)
    if marked:  # marking read messages read again is a no-op, and says nothing
        uow.emit(EVENTS, NotificationsRead(buyer_id=cmd.buyer_id, notification_ids=marked,
                                           unread=await uow.notifications.unread_count(cmd.buyer_id)),
                 key=cmd.buyer_id)
