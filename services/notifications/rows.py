"""A notification as the store keeps it: the row a handler hands ``NotificationsStore.add_all``.

The row's shape is part of the store's port (``ports.NotificationsStore.add_all``), so it lives beside neither
the SQL nor the handler: both use it.
"""

from __future__ import annotations

from typing import Any

from services.notifications.domain import Channel, Notice
from services.notifications.rendering import Rendered
from shared.cause import Cause


def new_row(notice: Notice, channel: Channel, rendered: Rendered, *, locale: str, status: str,
            cause: Cause | None, error: str | None = None) -> dict[str, Any]:
    """A notification as ``add_all`` stores it."""
    return {
        "notification_id": notice.notification_id(channel), "order_id": notice.order_id,
        "buyer_id": notice.buyer_id, "seller_id": notice.seller_id, "sku_id": notice.sku_id, "channel": channel,
        "kind": notice.kind, "line_ids": list(notice.line_ids),
        "revision": notice.revision, "ship_by": notice.ship_by, "estimated_delivery": notice.estimated_delivery,
        "locale": locale, "subject": rendered.subject,
        "body_text": rendered.app if channel == "app" else rendered.text,
        "body_html": rendered.html if channel == "email" else None, "data": notice.data(), "status": status,
        "last_error": error, "caused_by": cause.event_id if cause else None,
        "correlation_id": cause.correlation_id if cause else None,
    }
