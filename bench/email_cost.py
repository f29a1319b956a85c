"""What one email costs the notifications service's CPU, in microseconds: rendering the templates (in the
consumer's transaction) and building the message's bytes (in the sender). Reported, never asserted.

    python -m bench.email_cost [--emails N]

The notice is the flash sale's: an accepted order with one line partly on back order, for a buyer in
``en_US`` and one in ``de_DE``.
"""

from __future__ import annotations

import argparse
import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime

from services.notifications import notices
from services.notifications.domain import Buyer, OutgoingEmail
from services.notifications.message import MessageBuilder
from services.notifications.rendering import Renderer
from services.notifications.settings import NotificationsSettings
from shared.contract import orders as o

PLACED_AT = datetime(2026, 11, 23, 2, 30, tzinfo=UTC)


def accepted(order_id: str) -> o.OrderAccepted:
    def part(source: str, qty: int, ship_by: date) -> o.DatedPart:
        return o.DatedPart(source=source, warehouse_id="wh-1", qty=qty, ship_by=ship_by,  # type: ignore[arg-type]
                           estimated_delivery=date(2026, 12, 9))

    return o.OrderAccepted(order_id=order_id, buyer_id="buyer-1", status="awaiting_shipment", tags=["back_order"],
                           lines=[o.AcceptedLine(line_id="l1", sku_id="sku-1", qty=3, parts=[
                               part("regular", 1, date(2026, 11, 25)), part("backorder", 2, date(2026, 12, 4))])])


def per_call_us(work: Callable[[], object], calls: int, rounds: int = 5) -> float:
    """CPU time of this process per call, the best of ``rounds`` rounds (a shared machine only adds to it)."""
    work()  # warm: templates compiled, caches filled
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(calls):
            work()
        best = min(best, time.process_time() - started)
    return round(best / calls * 1e6, 1)


def measure(emails: int) -> dict[str, dict[str, float]]:
    settings = NotificationsSettings()
    renderer = Renderer(settings.order_url)
    builder = MessageBuilder(settings)
    notice = notices.notice_accepted(accepted("o-1001"))
    assert notice is not None
    out: dict[str, dict[str, float]] = {}
    for locale, zone in (("en_US", "America/New_York"), ("de_DE", "Europe/Berlin")):
        buyer = Buyer("buyer-1", "buyer-1@example.com", "US", locale, zone, PLACED_AT)
        rendered = renderer.render(notice, buyer)
        email = OutgoingEmail(
            notification_id=notice.notification_id("email"), order_id="o-1001", buyer_id="buyer-1",
            kind=notice.kind, line_ids=notice.line_ids, locale=locale, recipient=buyer.email,
            subject=rendered.subject, body_text=rendered.text, body_html=rendered.html, ship_by=notice.ship_by,
            estimated_delivery=notice.estimated_delivery, attempts=1, caused_by=uuid.uuid4(),
            correlation_id=uuid.uuid4(), created_at=PLACED_AT)
        render_us = per_call_us(lambda: renderer.render(notice, buyer), emails)  # noqa: B023
        build_us = per_call_us(lambda: builder.wire(email), emails)  # noqa: B023
        out[locale] = {"render_us": render_us, "message_us": build_us, "total_us": round(render_us + build_us, 1)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.email_cost")
    parser.add_argument("--emails", type=int, default=2000)
    print(json.dumps(measure(parser.parse_args().emails), indent=2))


if __name__ == "__main__":
    main()
