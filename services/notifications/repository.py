"""Notifications persistence: named queries from ``sql/`` and the one place rows become domain objects."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from services.notifications.domain import (
    Buyer,
    ExpiredEmail,
    LineState,
    OutgoingEmail,
    Seller,
)
from shared.persistence.db import Conn, fetch_all, load_queries
from shared.persistence.staging import StagedWrite, fetch_carrying, stage_or_send
from shared.persistence.uow import OutboxRecord

queries = load_queries(Path(__file__).parent / "sql")

def _line(row: Any) -> LineState:
    return LineState(row["line_id"], row["sku_id"], row["qty"], row["backorder_qty"], row["ship_by"],
                     row["estimated_delivery"])


def _email(row: Any) -> OutgoingEmail:
    return OutgoingEmail(
        notification_id=str(row["notification_id"]), order_id=row["order_id"], buyer_id=row["buyer_id"],
        kind=row["kind"], line_ids=tuple(row["line_ids"]), locale=row["locale"], recipient=row["recipient"],
        subject=row["subject"],
        body_text=row["body_text"], body_html=row["body_html"], ship_by=row["ship_by"],
        estimated_delivery=row["estimated_delivery"], attempts=row["attempts"], caused_by=row["caused_by"],
        correlation_id=row["correlation_id"], created_at=row["created_at"], seller_id=row["seller_id"],
        sku_id=row["sku_id"],
    )


def _view(row: Any) -> dict[str, Any]:
    """A notification as operators and the inbox read it: JSON-ready, no email address."""
    out = {}
    for key, value in dict(row).items():
        if isinstance(value, uuid.UUID):
            value = str(value)
        elif hasattr(value, "isoformat"):
            value = value.isoformat()
        out[key] = value
    return out


class NotificationsRepository:
    def __init__(self, conn: Conn) -> None:
        self.conn = conn

    # ------------------------------------------------------------ orders

    async def save_buyer(self, order_id: str, buyer: Buyer) -> None:
        await self.save_buyers([(order_id, buyer)])

    async def save_buyers(self, buyers: Sequence[tuple[str, Buyer]]) -> None:
        """``save_buyer`` for many (staged); an order's first buyer is kept."""
        if buyers:
            await stage_or_send(self.conn)(StagedWrite(queries.stage_buyers.sql, [
                {"order_id": order_id, "buyer_id": b.buyer_id, "buyer_email": b.email, "region": b.region,
                 "locale": b.locale, "timezone": b.timezone, "placed_at": b.placed_at} for order_id, b in buyers]))

    async def buyers(self, order_ids: Sequence[str]) -> dict[str, Buyer]:
        if not order_ids:
            return {}
        rows = await fetch_all(queries.get_buyer_orders, self.conn, order_ids=sorted(set(order_ids)))
        return {r["order_id"]: Buyer(r["buyer_id"], r["buyer_email"], r["region"], r["locale"], r["timezone"],
                                     r["placed_at"]) for r in rows}

    async def buyer(self, order_id: str) -> Buyer | None:
        row = await queries.get_buyer_order(self.conn, order_id=order_id)
        if row is None:
            return None
        return Buyer(row["buyer_id"], row["buyer_email"], row["region"], row["locale"], row["timezone"],
                     row["placed_at"])

    async def save_lines(self, order_id: str, lines: Sequence[LineState], as_of: Any) -> None:
        await self.save_lines_of([(order_id, lines, as_of)])

    async def save_lines_of(self, orders: Sequence[tuple[str, Sequence[LineState], Any]]) -> None:
        """``save_lines`` for many orders (staged), as if one after the other: of a line named twice, the newest
        dates are kept, the later of two equal; a line's dates never move back."""
        newest: dict[tuple[str, str], tuple[str, LineState, Any]] = {}
        for order_id, lines, as_of in orders:
            for ln in lines:
                kept = newest.get((order_id, ln.line_id))
                if kept is None or kept[2] <= as_of:
                    newest[(order_id, ln.line_id)] = (order_id, ln, as_of)
        if newest:
            await stage_or_send(self.conn)(StagedWrite(queries.stage_lines.sql, [
                {"order_id": order_id, "line_id": ln.line_id, "sku_id": ln.sku_id, "qty": ln.qty,
                 "backorder_qty": ln.backorder_qty, "ship_by": ln.ship_by, "estimated_delivery": ln.estimated_delivery,
                 "dates_as_of": as_of} for order_id, ln, as_of in newest.values()]))

    async def save_buyers_and_lines(self, buyers: Sequence[tuple[str, Buyer]],
                                    orders: Sequence[tuple[str, Sequence[LineState], Any]]) -> None:
        """``save_buyers`` then ``save_lines_of``."""
        await self.save_buyers(buyers)
        await self.save_lines_of(orders)

    async def lines(self, order_id: str) -> dict[str, LineState]:
        return {r["line_id"]: _line(r) for r in await fetch_all(queries.get_lines, self.conn, order_id=order_id)}

    # ------------------------------------------------------------ sellers (R32)

    async def save_seller(self, seller: Seller) -> None:
        await queries.save_seller(self.conn, seller_id=seller.seller_id, email=seller.email, region=seller.region,
                                  timezone=seller.timezone)

    async def seller(self, seller_id: str) -> Seller | None:
        row = await queries.get_seller(self.conn, seller_id=seller_id)
        return Seller(row["seller_id"], row["email"], row["region"], row["timezone"]) if row else None

    # ------------------------------------------------------------ notifications

    async def add_all(self, rows: Sequence[dict[str, Any]]) -> set[str]:
        """Store notifications (``rows.new_row``s) in one statement, which carries the staged writes and wakes
        the senders at commit if an email was queued; return the ids stored. The others existed already: they
        were told before (R22)."""
        if not rows:
            return set()
        stored = await fetch_carrying(self.conn, queries.insert_notifications.sql, list(rows))
        return {str(r["notification_id"]) for r in stored}

    async def claim_emails(self, token: uuid.UUID, limit: int, lease_s: float) -> list[OutgoingEmail]:
        rows = await fetch_all(queries.claim_emails, self.conn, token=token, limit=limit, lease_s=lease_s)
        return sorted((_email(r) for r in rows), key=lambda e: e.created_at)

    async def mark_sent_announced(self, notification_id: str, token: uuid.UUID, announcement: OutboxRecord, *,
                                  notify: str = "") -> int | None:
        """Mark an email sent and write its ``announcement`` to the outbox, in one statement (its own
        transaction), and wake the relays at commit (``notify``: who wrote); its outbox id, or None, and
        nothing written, when the claim was lost."""
        row = await queries.mark_sent_announced(
            self.conn, notification_id=notification_id, token=token, event_id=announcement.event_id,
            topic=announcement.topic, message_key=announcement.key, message_type=announcement.message_type,
            value=announcement.value, headers=announcement.headers, notify=notify)
        return int(row["outbox_id"]) if row is not None and row["outbox_id"] is not None else None

    async def mark_retry(self, notification_id: str, token: uuid.UUID, error: str, delay_s: float) -> bool:
        done = await queries.mark_retry(self.conn, notification_id=notification_id, token=token, error=error,
                                        delay_s=delay_s)
        return done is not None

    async def mark_failed(self, notification_id: str, token: uuid.UUID, error: str) -> bool:
        done = await queries.mark_failed(self.conn, notification_id=notification_id, token=token, error=error)
        return done is not None

    async def release(self, token: uuid.UUID) -> None:
        await queries.release_claim(self.conn, token=token)

    async def expire_emails(self, max_age_s: float) -> list[ExpiredEmail]:
        rows = await fetch_all(queries.expire_emails, self.conn, max_age_s=max_age_s)
        return [ExpiredEmail(str(r["notification_id"]), r["order_id"], r["buyer_id"], r["kind"], r["attempts"],
                             r["last_error"], r["caused_by"], r["correlation_id"], r["seller_id"], r["sku_id"])
                for r in rows]

    async def email_queue_stats(self) -> dict[str, float]:
        row = await queries.email_queue_stats(self.conn)
        return {"pending": row["pending"], "sending": row["sending"], "oldest_due_s": float(row["oldest_due_s"])}

    # ------------------------------------------------------------ the inbox and the operators' view

    async def foreign_app_ids(self, buyer_id: str, notification_ids: list[str]) -> list[str]:
        """The ids that are not app messages of this buyer's (unknown, another buyer's, or an email)."""
        rows = await fetch_all(queries.foreign_app_ids, self.conn, buyer_id=buyer_id, notification_ids=notification_ids)
        return [str(r["id"]) for r in rows]

    async def mark_read(self, buyer_id: str, notification_ids: list[str] | None = None) -> list[str]:
        """Mark the buyer's unread app messages read (those named, or all); return the ids it marked."""
        rows = await fetch_all(queries.mark_read, self.conn, buyer_id=buyer_id, notification_ids=notification_ids)
        return [str(r["notification_id"]) for r in rows]

    async def unread_count(self, buyer_id: str) -> int:
        return int(await queries.unread_count(self.conn, buyer_id=buyer_id))

    async def list_by_buyer(self, buyer_id: str, *, channel: str | None = None, status: str | None = None,
                            unread_only: bool = False, limit: int = 100) -> list[dict[str, Any]]:
        rows = await fetch_all(queries.list_by_buyer, self.conn, buyer_id=buyer_id, channel=channel, status=status,
                               unread_only=unread_only, limit=limit)
        return [_view(r) for r in rows]

    async def list_by_seller(self, seller_id: str, *, channel: str | None = None,
                             limit: int = 100) -> list[dict[str, Any]]:
        """R32: a seller's alerts, newest first."""
        rows = await fetch_all(queries.list_by_seller, self.conn, seller_id=seller_id, channel=channel, limit=limit)
        return [_view(r) for r in rows]

    async def list_by_order(self, order_id: str, limit: int = 500) -> list[dict[str, Any]]:
        return [_view(r) for r in await fetch_all(queries.list_by_order, self.conn, order_id=order_id, limit=limit)]

    async def get(self, notification_id: str) -> dict[str, Any] | None:
        row = await queries.get_notification(self.conn, notification_id=notification_id)
        return _view(row) if row else None
