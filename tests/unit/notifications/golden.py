"""Golden emails: every kind of message in every locale, rendered and built as the sender sends it, read back
as a mail client reads it (subject, headers, the app text and both bodies).

The files under ``golden/`` were written from the code before rendering and MIME building were made fast
(issue 27), so ``test_golden.py`` proves those changes kept every message the same. To write them again
after a deliberate change of a template or a header: ``python -m tests.unit.notifications.golden write``.
"""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtplib.email import flatten_message

from services.notifications import notices
from services.notifications.domain import Buyer, Notice, OutgoingEmail
from services.notifications.message import MessageBuilder
from services.notifications.rendering import Renderer
from services.notifications.settings import NotificationsSettings
from shared.contract import inventory as inv
from shared.contract import orders as o
from tests.unit.notifications import factories as f

GOLDEN = Path(__file__).parent / "golden"
SETTINGS = NotificationsSettings(mail_domain="mail.shop.example")
RENDERER = Renderer(SETTINGS.order_url)
BUILDER = MessageBuilder(SETTINGS)
CREATED_AT = datetime(2026, 11, 23, 10, 0, 5, tzinfo=UTC)
SELLER = "seller-1"
#: one locale per date style, each with a zone of its own (or none: the region's)
LOCALES = (("en_US", "America/Chicago", "US"), ("en_GB", None, "GB"), ("de_DE", "Europe/Berlin", "DE"),
           ("fr_FR", "Europe/Paris", "FR"), ("es_ES", "Europe/Madrid", "ES"), ("it_IT", None, "IT"),
           ("pt_BR", "America/Sao_Paulo", "BR"), ("ja_JP", "Asia/Tokyo", "JP"))


def buyer_notices() -> list[Notice]:
    known = {line.line_id: line for line in notices.lines_from_accepted(f.accepted("o-1"))}
    found = [
        notices.notice_accepted(f.accepted("o-1")),
        notices.notice_released(f.released("o-1"), known),
        notices.notice_shipped(f.shipped("o-1"), known),
        notices.notice_late(f.late("o-1"), known),
        notices.notice_delayed(f.delayed("o-1"), known),
        notices.notice_cancelled(f.cancelled("o-1").model_copy(update={"reason": "<b>buyer</b> & co"}), known),
        notices.notice_refunded(f.refund("o-1").model_copy(update={"detail": "sku_on_backorder"}), known),
        notices.notice_rejected(o.OrderRejected(order_id="o-1", buyer_id="buyer-1",
                                                reason=o.RejectionReason(code="out_of_stock"),
                                                line_ids=["l1", "l2"])),
    ]
    return [n for n in found if n is not None]


def seller_notices() -> list[Notice]:
    found = [
        notices.notice_low_stock(inv.LowStock(sku_id="sku-1", seller_id=SELLER, available_to_promise=1, backorder=2,
                                             total_available=3, threshold=5), "alert-1"),
        notices.notice_backorder_exhausted(inv.BackorderStockExhausted(
            sku_id="sku-1", seller_id=SELLER, available_to_promise=0, backorder_allocated=4), "alert-2"),
        notices.notice_uncovered(o.BackorderUncovered(order_id="o-1", buyer_id="buyer-1", line_id="l1", sku_id="sku-1",
                                                     seller_id=SELLER, warehouse_id="wh-1", ship_by=date(2026, 12, 4))),
    ]
    return [n for n in found if n is not None]


def outgoing(notice: Notice, buyer: Buyer | None, recipient: str) -> tuple[OutgoingEmail, str]:
    """The email as the sender claims it from the queue, and the app message told beside it."""
    rendered = RENDERER.render(notice, buyer)
    email = OutgoingEmail(
        notification_id=notice.notification_id("email"), order_id=notice.order_id, buyer_id=notice.buyer_id,
        kind=notice.kind, line_ids=notice.line_ids, locale=buyer.locale if buyer else "en_US", recipient=recipient,
        subject=rendered.subject, body_text=rendered.text, body_html=rendered.html, ship_by=notice.ship_by,
        estimated_delivery=notice.estimated_delivery, attempts=1, caused_by=uuid.UUID(int=1),
        correlation_id=uuid.UUID(int=2), created_at=CREATED_AT, seller_id=notice.seller_id, sku_id=notice.sku_id)
    return email, rendered.app


def samples() -> Iterator[tuple[str, str, OutgoingEmail, str]]:
    """(kind, locale, the email, the app message) for every kind and every locale (a seller has none yet)."""
    for notice in buyer_notices():
        for locale, timezone, region in LOCALES:
            buyer = Buyer("buyer-1", f.email_of("buyer-1"), region, locale, timezone, f.PLACED_AT)
            yield (notice.kind, locale, *outgoing(notice, buyer, buyer.email))
    for notice in seller_notices():
        yield (notice.kind, "-", *outgoing(notice, None, "seller-1.private@mail-provider.example"))


def read(wire: bytes, app: str) -> dict[str, Any]:
    """What a mail client shows of the message: decoded headers (the MIME boundary aside) and both bodies."""
    message = message_from_bytes(wire, policy=policy.default)
    assert isinstance(message, EmailMessage)
    headers = [[name, str(value)] for name, value in message.items() if name.lower() != "content-type"]
    parts = [part for part in message.iter_parts()]
    return {
        "subject": str(message["Subject"]), "app": app, "headers": headers,
        "content_type": message.get_content_type(),
        "parts": [[part.get_content_type(), part.get_content_charset()] for part in parts],
        "text": message.get_body(("plain",)).get_content(),  # type: ignore[union-attr]
        "html": message.get_body(("html",)).get_content(),  # type: ignore[union-attr]
    }


def wire(email: OutgoingEmail) -> bytes:
    """The bytes the sender hands to the SMTP server for this email."""
    message = BUILDER.wire(email).message
    return message if isinstance(message, bytes) else flatten_message(message)


def current() -> dict[str, dict[str, Any]]:
    """Every sample as read back, by kind then locale."""
    out: dict[str, dict[str, Any]] = {}
    for kind, locale, email, app in samples():
        out.setdefault(kind, {})[locale] = read(wire(email), app)
    return out


def write() -> None:
    GOLDEN.mkdir(exist_ok=True)
    for kind, by_locale in current().items():
        (GOLDEN / f"{kind}.json").write_text(json.dumps(by_locale, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    if sys.argv[1:] != ["write"]:
        sys.exit("usage: python -m tests.unit.notifications.golden write")
    write()
