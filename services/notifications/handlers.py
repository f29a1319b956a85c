"""orders.events and notifications.commands handlers: ``async def handler(message, uow)``.

Each orders.events handler keeps what it needs of the order (buyer contact, backordered lines and
their dates), decides with the domain what to tell, and hands the notice to ``tell``. The runtime
commits the transaction: the stored notifications, the app's ``NotificationSent`` in the
outbox and the email queued for the sender are durable together or not at all.

``mark_read`` is the buyer's app inbox command: the messages become read and ``NotificationsRead``
is staged in the same transaction, or a ``Rejection`` changes nothing.

R32: sellers are told too. ``seller_registered`` keeps catalog's seller contact (``sellers``); inventory's
``LowStock`` and ``BackorderStockExhausted`` and orders' ``BackorderUncovered`` become seller notices, told
by ``tell_seller`` on both channels, once, exactly as a buyer's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog

from services.notifications import domain, metrics, notices
from services.notifications.domain import Buyer, Channel, LineState, Notice, Seller
from services.notifications.localization import DEFAULT_LOCALE
from services.notifications.ports import NotificationsUow
from services.notifications.rendering import Rendered
from services.notifications.rows import new_row
from shared.cause import Cause
from shared.contract import catalog as cat
from shared.contract import inventory as inv
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

log = structlog.get_logger(__name__)

UNKNOWN_BUYER = "buyer_contact_unknown: no OrderPlaced was seen for this order"
UNKNOWN_SELLER = "seller_contact_unknown: no SellerRegistered with an email was seen for this seller"


def app_sent_event(notice: Notice, rendered: Rendered) -> NotificationSent:
    """What a push gateway needs to deliver the app message (no email address, no name)."""
    return NotificationSent(
        notification_id=notice.notification_id("app"), order_id=notice.order_id, buyer_id=notice.buyer_id,
        seller_id=notice.seller_id, sku_id=notice.sku_id, channel="app", kind=notice.kind, ship_by=notice.ship_by,
        estimated_delivery=notice.estimated_delivery,
        line_ids=list(notice.line_ids), title=rendered.subject[:500], message=rendered.app[:500],
    )


async def tell(uow: NotificationsUow, notice: Notice | None) -> None:
    """Store the notice on both channels, once (R22): app delivered now, email queued for the sender."""
    if notice is None:
        return
    assert notice.order_id is not None, "a buyer's notice is about an order"
    await tell_all(uow, [(notice, await uow.notifications.buyer(notice.order_id), uow.cause)])


async def tell_seller(uow: NotificationsUow, notice: Notice | None) -> None:
    """R32: ``tell`` for a seller's notice; the email goes to the address catalog gave for the seller."""
    if notice is None or notice.seller_id is None:
        return
    seller = await uow.notifications.seller(notice.seller_id)
    await _store(uow, [_Told(notice, None, uow.cause, uow.renderer.render(notice, None), seller)])


async def tell_all(uow: NotificationsUow, notices: list[tuple[Notice, Buyer | None, Cause | None]]) -> None:
    """``tell`` for several notices: their notifications are stored in one statement, then each notice
    is announced as if told alone, in order (a notice repeated in the list is told once)."""
    await _store(uow, [_Told(notice, buyer, cause, uow.renderer.render(notice, buyer))
                       for notice, buyer, cause in notices])


async def _store(uow: NotificationsUow, told: list[_Told]) -> None:
    stored = await uow.notifications.add_all([row for t in told for row in t.rows()])  # (wakes the senders)
    for t in told:
        t.announce(uow, stored)


@dataclass(frozen=True)
class _Told:
    """One notice on its way: what it stores on each channel, and what it says once stored."""

    notice: Notice
    buyer: Buyer | None
    cause: Cause | None
    rendered: Rendered
    seller: Seller | None = None  # R32: a seller's notice

    @property
    def locale(self) -> str:
        return self.buyer.locale if self.buyer else DEFAULT_LOCALE

    @property
    def unreachable(self) -> str | None:
        """Why the email cannot be sent (no address known), or None."""
        if self.notice.to_seller:
            return None if self.seller is not None and self.seller.email else UNKNOWN_SELLER
        return UNKNOWN_BUYER if self.buyer is None else None

    def rows(self) -> list[dict[str, Any]]:
        def row(channel: Channel, status: str, error: str | None = None) -> dict[str, Any]:
            return new_row(self.notice, channel, self.rendered, locale=self.locale, status=status, cause=self.cause,
                           error=error)

        if self.unreachable:  # without an address there is nothing to retry: recorded failed, and said so
            return [row("app", "sent"), row("email", "failed", self.unreachable)]
        return [row("app", "sent"), row("email", "pending")]

    def announce(self, uow: NotificationsUow, stored: set[str]) -> None:
        """Emit and count what was stored now (each id once: ``stored`` loses it)."""
        with uow.caused_by(self.cause):
            self._announce(uow, stored)

    def _announce(self, uow: NotificationsUow, stored: set[str]) -> None:
        notice = self.notice
        bound = log.bind(order_id=notice.order_id, kind=notice.kind)
        if notice.to_seller:
            bound = bound.bind(seller_id=notice.seller_id, sku_id=notice.sku_id)
        app_id, email_id = notice.notification_id("app"), notice.notification_id("email")
        if app_id in stored:
            stored.discard(app_id)
            uow.emit(EVENTS, app_sent_event(notice, self.rendered), key=notice.key)
            _count(uow, "app", notice.kind, "sent")
            bound.info("notification_sent", channel="app", notification_id=app_id)
        else:
            _count(uow, "app", notice.kind, "duplicate")
            bound.info("notification_already_told", channel="app", notification_id=app_id)
        error = self.unreachable
        if email_id not in stored:
            if error is None:
                _count(uow, "email", notice.kind, "duplicate")
                bound.info("notification_already_told", channel="email", notification_id=email_id)
            return
        stored.discard(email_id)
        if error is not None:
            uow.emit(EVENTS, NotificationFailed(
                notification_id=email_id, order_id=notice.order_id, buyer_id=notice.buyer_id,
                seller_id=notice.seller_id, sku_id=notice.sku_id, channel="email", kind=notice.kind, attempts=0,
                error=error,
            ), key=notice.key)
            _count(uow, "email", notice.kind, "failed")
            bound.warning("notification_failed", channel="email", notification_id=email_id, error=error)
            return
        _count(uow, "email", notice.kind, "created")
        bound.info("notification_queued", channel="email", notification_id=email_id)


def _count(uow: NotificationsUow, channel: str, kind: str, outcome: str) -> None:
    """Counted once the transaction commits: a batch the runtime does again counts once."""
    uow.after_commit(lambda: metrics.NOTIFICATIONS.labels(channel, kind, outcome).inc())


def _as_of(uow: NotificationsUow, cause: Cause | None = None) -> datetime:
    cause = cause or uow.cause
    return cause.occurred_at if cause and cause.occurred_at else utcnow()


async def order_placed(event: o.OrderPlaced, uow: NotificationsUow) -> None:
    buyer = Buyer(event.buyer_id, event.buyer_email, event.region, event.locale, event.timezone, event.placed_at)
    await uow.notifications.save_buyer(event.order_id, buyer)


async def order_accepted(event: o.OrderAccepted, uow: NotificationsUow) -> None:
    """R20."""
    await uow.notifications.save_lines(event.order_id, notices.lines_from_accepted(event), _as_of(uow))
    await tell(uow, notices.notice_accepted(event))


async def placed_and_accepted(messages: list[Message[o.OrderPlaced | o.OrderAccepted]],
                              uow: NotificationsUow) -> None:
    """``order_placed`` and ``order_accepted`` for a run of both, mixed, with the same effects: buyers
    and lines are written in one statement each, in arrival order; the buyers the notices need are
    read in one query; then each notice is told as ``tell`` does."""
    placed: dict[str, Buyer] = {}
    buyers: list[tuple[str, Buyer]] = []
    lines: list[tuple[str, list[LineState], datetime]] = []
    told: list[tuple[Notice, Buyer | None, Cause]] = []
    for m in messages:
        event = m.payload
        if isinstance(event, o.OrderPlaced):
            buyer = Buyer(event.buyer_id, event.buyer_email, event.region, event.locale, event.timezone,
                          event.placed_at)
            buyers.append((event.order_id, buyer))
            placed.setdefault(event.order_id, buyer)  # the first one is kept, as the store does
            continue
        lines.append((event.order_id, notices.lines_from_accepted(event), _as_of(uow, m.cause)))
        notice = notices.notice_accepted(event)
        if notice is not None:
            told.append((notice, placed.get(event.order_id), m.cause))
    repo = uow.notifications
    # read before this run's buyers are written: a buyer stored before wins (the store keeps the
    # first), and a notice told before its order's OrderPlaced arrived has none, as one at a time
    stored = await repo.buyers([notice.subject for notice, _, _ in told])  # a buyer's notice: its order
    await repo.save_buyers_and_lines(buyers, lines)
    await tell_all(uow, [(notice, stored.get(notice.subject) or placed_in_run, cause)
                         for notice, placed_in_run, cause in told])


async def order_rejected(event: o.OrderRejected, uow: NotificationsUow) -> None:
    """R26: the buyer hears why the order was not accepted."""
    await tell(uow, notices.notice_rejected(event))


async def lines_released(event: o.LinesReleased, uow: NotificationsUow) -> None:
    """R21: released by a restock; the lines now carry the release's dates."""
    known = await uow.notifications.lines(event.order_id)
    notice = notices.notice_released(event, known)
    updated = [LineState(i.line_id, i.sku_id, i.qty, known[i.line_id].backorder_qty, i.ship_by,
                         i.estimated_delivery) for i in notice.items if i.line_id in known]
    await uow.notifications.save_lines(event.order_id, updated, _as_of(uow))
    await tell(uow, notice)


async def lines_shipped(event: o.LinesShipped, uow: NotificationsUow) -> None:
    """R21."""
    await tell(uow, notices.notice_shipped(event, await uow.notifications.lines(event.order_id)))


async def shipment_late(event: o.OrderShipmentLate, uow: NotificationsUow) -> None:
    """R15, R21: late, with the option to cancel."""
    await tell(uow, notices.notice_late(event, await uow.notifications.lines(event.order_id)))


async def backorder_delayed(event: o.BackorderDelayed, uow: NotificationsUow) -> None:
    """R21: a delay alert with the old and the new dates."""
    known = await uow.notifications.lines(event.order_id)
    if event.line_id in known:
        await uow.notifications.save_lines(event.order_id, [notices.apply_delay(known[event.line_id], event)],
                                           _as_of(uow))
    await tell(uow, notices.notice_delayed(event, known))


async def lines_cancelled(event: o.LinesCancelled, uow: NotificationsUow) -> None:
    """R21."""
    await tell(uow, notices.notice_cancelled(event, await uow.notifications.lines(event.order_id)))


async def refund_requested(event: o.RefundRequested, uow: NotificationsUow) -> None:
    """R18, R21."""
    await tell(uow, notices.notice_refunded(event, await uow.notifications.lines(event.order_id)))


# ---------------------------------------------------------------- sellers (R32)


async def seller_registered(event: cat.SellerRegistered, uow: NotificationsUow) -> None:
    """Keep where the seller's alerts are emailed (catalog owns sellers; this is its copy)."""
    await uow.notifications.save_seller(Seller(event.seller_id, event.email, event.region, event.timezone))


def _alert_id(uow: NotificationsUow) -> str:
    """The alert event's id: inventory emits each crossing once, so it names the crossing (see ``domain``)."""
    assert uow.cause is not None, "a consumed message always has a cause"
    return str(uow.cause.event_id)


async def low_stock(event: inv.LowStock, uow: NotificationsUow) -> None:
    """R32: the seller's SKU is low on total available stock (in stock plus backorder)."""
    await tell_seller(uow, notices.notice_low_stock(event, _alert_id(uow)))


async def backorder_stock_exhausted(event: inv.BackorderStockExhausted, uow: NotificationsUow) -> None:
    """R32: the seller's SKU has no backorder stock left to sell."""
    await tell_seller(uow, notices.notice_backorder_exhausted(event, _alert_id(uow)))


async def backorder_uncovered(event: o.BackorderUncovered, uow: NotificationsUow) -> None:
    """R29, R32: a waiting line has no inbound covering it; the seller is asked to act."""
    await tell_seller(uow, notices.notice_uncovered(event))


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
