"""orders.events handlers: ``async def handler(event, uow)``.

Each handler keeps what it needs of the order (buyer contact, backordered lines and their
dates), decides with the domain what to tell, and hands the notice to ``tell``. The runtime
commits the transaction: the stored notifications, the app's ``NotificationSent`` in the
outbox and the email queued for the sender are durable together or not at all.
"""

from __future__ import annotations

from datetime import datetime

import structlog

from services.notifications import domain, metrics
from services.notifications.domain import Buyer, LineState, Notice
from services.notifications.localization import DEFAULT_LOCALE
from services.notifications.rendering import Rendered
from services.notifications.unit_of_work import NotificationsUnitOfWork
from shared.contract import orders as o
from shared.contract.envelope import utcnow
from shared.contract.notifications import NotificationFailed, NotificationSent
from shared.contract.topics import NOTIFICATIONS_EVENTS_TOPIC as EVENTS
from shared.messaging.consumer import Message
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


async def tell(uow: NotificationsUnitOfWork, notice: Notice | None) -> None:
    """Store the notice on both channels, once (R22): app delivered now, email queued for the sender."""
    if notice is None:
        return
    if await _tell(uow, notice, await uow.notifications.buyer(notice.order_id), uow.cause):
        await uow.notifications.wake_senders()


async def _tell(uow: NotificationsUnitOfWork, notice: Notice, buyer: Buyer | None, cause: Cause | None) -> bool:
    """Store the notice on both channels; True when an email was queued (the caller wakes the senders,
    once per transaction)."""
    repo = uow.notifications
    rendered = uow.renderer.render(notice, buyer)
    locale = buyer.locale if buyer else DEFAULT_LOCALE
    bound = log.bind(order_id=notice.order_id, kind=notice.kind)

    if await repo.add(notice, "app", rendered, locale=locale, status="sent", cause=cause):
        uow.emit(EVENTS, app_sent_event(notice, rendered), key=notice.order_id, cause=cause)
        metrics.NOTIFICATIONS.labels("app", notice.kind, "sent").inc()
        bound.info("notification_sent", channel="app", notification_id=notice.notification_id("app"))
    else:
        metrics.NOTIFICATIONS.labels("app", notice.kind, "duplicate").inc()
        bound.info("notification_already_told", channel="app", notification_id=notice.notification_id("app"))

    email_id = notice.notification_id("email")
    if buyer is None:
        # Without an address there is nothing to retry: record it failed and say so.
        if await repo.add(notice, "email", rendered, locale=locale, status="failed", cause=cause,
                          error=UNKNOWN_BUYER):
            uow.emit(EVENTS, NotificationFailed(
                notification_id=email_id, order_id=notice.order_id, buyer_id=notice.buyer_id, channel="email",
                kind=notice.kind, attempts=0, error=UNKNOWN_BUYER,
            ), key=notice.order_id, cause=cause)
            metrics.NOTIFICATIONS.labels("email", notice.kind, "failed").inc()
            bound.warning("notification_failed", channel="email", notification_id=email_id, error=UNKNOWN_BUYER)
    elif await repo.add(notice, "email", rendered, locale=locale, status="pending", cause=cause):
        metrics.NOTIFICATIONS.labels("email", notice.kind, "created").inc()
        bound.info("notification_queued", channel="email", notification_id=email_id)
        return True
    else:
        metrics.NOTIFICATIONS.labels("email", notice.kind, "duplicate").inc()
        bound.info("notification_already_told", channel="email", notification_id=email_id)
    return False


def _as_of(uow: NotificationsUnitOfWork, cause: Cause | None = None) -> datetime:
    cause = cause or uow.cause
    return cause.occurred_at if cause and cause.occurred_at else utcnow()


async def order_placed(event: o.OrderPlaced, uow: NotificationsUnitOfWork) -> None:
    buyer = Buyer(event.buyer_id, event.buyer_email, event.region, event.locale, event.timezone, event.placed_at)
    await uow.notifications.save_buyer(event.order_id, buyer)


async def order_accepted(event: o.OrderAccepted, uow: NotificationsUnitOfWork) -> None:
    """R20."""
    await uow.notifications.save_lines(event.order_id, domain.lines_from_accepted(event), _as_of(uow))
    await tell(uow, domain.notice_accepted(event))


async def placed_and_accepted(messages: list[Message[o.OrderPlaced | o.OrderAccepted]],
                              uow: NotificationsUnitOfWork) -> None:
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
    queued = [await _tell(uow, notice, stored.get(notice.order_id) or placed_in_run, cause)
              for notice, placed_in_run, cause in notices]
    if any(queued):
        await repo.wake_senders()


async def lines_released(event: o.LinesReleased, uow: NotificationsUnitOfWork) -> None:
    """R21: released by a restock; the lines now carry the release's dates."""
    known = await uow.notifications.lines(event.order_id)
    notice = domain.notice_released(event, known)
    updated = [LineState(i.line_id, i.sku_id, i.qty, known[i.line_id].backorder_qty, i.ship_by,
                         i.estimated_delivery) for i in notice.items if i.line_id in known]
    await uow.notifications.save_lines(event.order_id, updated, _as_of(uow))
    await tell(uow, notice)


async def lines_shipped(event: o.LinesShipped, uow: NotificationsUnitOfWork) -> None:
    """R21."""
    await tell(uow, domain.notice_shipped(event, await uow.notifications.lines(event.order_id)))


async def shipment_late(event: o.OrderShipmentLate, uow: NotificationsUnitOfWork) -> None:
    """R15, R21: late, with the option to cancel."""
    await tell(uow, domain.notice_late(event, await uow.notifications.lines(event.order_id)))


async def backorder_delayed(event: o.BackorderDelayed, uow: NotificationsUnitOfWork) -> None:
    """R21: a delay alert with the old and the new dates."""
    known = await uow.notifications.lines(event.order_id)
    if event.line_id in known:
        await uow.notifications.save_lines(event.order_id, [domain.apply_delay(known[event.line_id], event)],
                                           _as_of(uow))
    await tell(uow, domain.notice_delayed(event, known))


async def lines_cancelled(event: o.LinesCancelled, uow: NotificationsUnitOfWork) -> None:
    """R21."""
    await tell(uow, domain.notice_cancelled(event, await uow.notifications.lines(event.order_id)))


async def refund_requested(event: o.RefundRequested, uow: NotificationsUnitOfWork) -> None:
    """R18, R21."""
    await tell(uow, domain.notice_refunded(event, await uow.notifications.lines(event.order_id)))
