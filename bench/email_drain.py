"""How fast the email sender drains its queue with 1, 2, 4, 8 SMTP connections: the measurement behind
``SMTP_CONNECTIONS``' default. Reported, never asserted.

    python -m bench.email_drain [--emails N] [--connections 1,2,4,8] [--smtp-delay-ms MS]

An embedded PostgreSQL and the dev stack's SMTP server (aiosmtpd in its own process, writing each message
to a file; with ``--smtp-delay-ms``, answering each DATA that much later, as a remote relay would), both
fresh; ``N`` backordered orders' emails are queued once, then drained by one sender per pool size, in the
order given (the queue is made due again between runs; repeat a size to see the noise). Per run: emails/s
from the first claim to the last record, and the sender's CPU per email (this process, logging JSON lines
to stderr as the service does).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import asyncpg

from devstack.postgres import EmbeddedPostgres
from devstack.smtp import EmbeddedSmtp
from services.notifications import handlers
from services.notifications.mail import SmtpTransport
from services.notifications.sender import EmailSender
from services.notifications.settings import NotificationsSettings
from services.notifications.unit_of_work import make_uow
from shared.clock import SystemClock
from shared.contract import orders as o
from shared.observability.logging import configure_logging
from shared.persistence.db import create_pool
from shared.persistence.migrate import migrate
from shared.persistence.uow import transaction

MIGRATIONS = Path(__file__).parents[1] / "services" / "notifications" / "migrations"


def _events(n: int) -> tuple[o.OrderPlaced, o.OrderAccepted]:
    order_id, buyer = f"o-{n}", f"buyer-{n % 500}"
    part = o.DatedPart(source="backorder", warehouse_id="wh-1", qty=1, ship_by=date(2026, 12, 4),
                       estimated_delivery=date(2026, 12, 9))
    return (o.OrderPlaced(order_id=order_id, buyer_id=buyer, buyer_email=f"{buyer}@example.com", region="US",
                          locale="en_US", timezone=None, placed_at=datetime(2026, 11, 23, 2, 30, tzinfo=UTC),
                          lines=[o.OrderLine(line_id="l0", sku_id="sku-hot", qty=1)]),
            o.OrderAccepted(order_id=order_id, buyer_id=buyer, status="awaiting_shipment", tags=["back_order"],
                            lines=[o.AcceptedLine(line_id="l0", sku_id="sku-hot", qty=1, parts=[part])]))


async def queue(pool: asyncpg.Pool, settings: NotificationsSettings, emails: int) -> None:
    factory = make_uow(settings, SystemClock())
    for start in range(0, emails, 200):
        async with transaction(pool, factory) as uow:
            for n in range(start, min(emails, start + 200)):
                placed, accepted = _events(n)
                await handlers.order_placed(placed, uow)
                await handlers.order_accepted(accepted, uow)
            uow.commit()


async def drain(pool: asyncpg.Pool, settings: NotificationsSettings, emails: int) -> dict[str, Any]:
    await pool.execute("UPDATE notifications SET status = 'pending', attempts = 0, next_attempt_at = now(), "
                       "sent_at = NULL WHERE channel = 'email'")
    await pool.execute("DELETE FROM outbox WHERE message_type = 'NotificationSent'")
    sender = EmailSender(pool, settings, make_uow(settings, SystemClock()), SmtpTransport(settings))
    cpu, started = time.process_time(), time.perf_counter()
    sent = "SELECT count(*) FROM notifications WHERE channel = 'email' AND status = 'sent'"
    while await pool.fetchval(sent) < emails:
        await sender.send_due()
    seconds, cpu_s = time.perf_counter() - started, time.process_time() - cpu
    await sender.smtp.close()
    return {"emails_per_s": round(emails / seconds, 1), "sender_cpu_ms_per_email": round(cpu_s / emails * 1000, 3)}


async def measure(root: Path, emails: int, sizes: list[int], data_delay_ms: int = 0) -> list[dict[str, Any]]:
    postgres = EmbeddedPostgres(root / "pg").start()
    smtp = EmbeddedSmtp(root / "mail", root / "smtp.log", data_delay_ms=data_delay_ms).start()
    try:
        admin = await asyncpg.connect(postgres.url)
        await admin.execute('CREATE DATABASE "notifications"')
        await admin.close()
        await migrate(postgres.dsn("notifications"), MIGRATIONS)
        pool = await create_pool(postgres.dsn("notifications"), max_size=12)
        try:
            base = NotificationsSettings(smtp_host="127.0.0.1", smtp_port=smtp.port, email_batch=40)
            await queue(pool, base, emails)
            return [{"connections": n, **await drain(pool, base.model_copy(update={"smtp_connections": n}), emails)}
                    for n in sizes]
        finally:
            await pool.close()
    finally:
        smtp.stop()
        postgres.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.email_drain")
    parser.add_argument("--emails", type=int, default=2000)
    parser.add_argument("--connections", default="1,2,4,8")
    parser.add_argument("--smtp-delay-ms", type=int, default=0,
                        help="the server answers each DATA this much later: a remote relay")
    args = parser.parse_args()
    configure_logging("notifications")  # JSON lines on stderr, as the service writes them
    with tempfile.TemporaryDirectory(prefix="email-drain-") as root:
        result = asyncio.run(measure(Path(root), args.emails, [int(n) for n in args.connections.split(",")],
                                     args.smtp_delay_ms))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
