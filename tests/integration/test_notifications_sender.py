"""The email queue against a real PostgreSQL and a real SMTP server (aiosmtpd in this process).

Handlers queue the emails exactly as the consumer would; senders drain the queue. The claims
(``FOR UPDATE SKIP LOCKED``, leases) are the database's work, so these tests need one.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import asyncpg
import orjson
import pytest
from aiosmtpd.controller import Controller
from prometheus_client import REGISTRY

from devstack.processes import free_port
from services.notifications import handlers
from services.notifications.mail import SendBy, SmtpTransport, SmtpUnavailable
from services.notifications.repository import NotificationsRepository
from services.notifications.sender import EmailSender
from services.notifications.settings import NotificationsSettings
from services.notifications.unit_of_work import make_uow
from shared.clock import SystemClock
from shared.persistence.db import create_pool
from shared.persistence.uow import transaction
from tests.unit.notifications import factories as f


class Catcher:
    """Keeps what it accepts; answers RCPT with ``rcpt_reply`` when set."""

    def __init__(self) -> None:
        self.messages: list[bytes] = []
        self.peers: list[Any] = []  # the client end of the session each message came over
        self.rcpt_reply: str | None = None
        self.data_delay_s = 0.0
        # when set, DATA waits for ``data_gate`` before it answers; ``data_started`` tells that ``gate_after``
        # messages are waiting
        self.data_gate: threading.Event | None = None
        self.data_started = threading.Event()
        self.gate_after = 1
        self.in_data = 0
        # accepted messages whose sender has not recorded them yet (R22's window), now and at most;
        # the server runs in a thread of its own
        self.unrecorded = self.most_unrecorded = 0
        self.lock = threading.Lock()

    def recorded(self) -> None:
        with self.lock:
            self.unrecorded -= 1

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await asyncio.sleep(self.data_delay_s)
        if self.data_gate is not None:
            with self.lock:
                self.in_data += 1
                if self.in_data >= self.gate_after:
                    self.data_started.set()
            await asyncio.to_thread(self.data_gate.wait, 30)
        self.messages.append(envelope.original_content or envelope.content)
        self.peers.append(session.peer)
        with self.lock:
            self.unrecorded += 1
            self.most_unrecorded = max(self.most_unrecorded, self.unrecorded)
        return "250 OK"

    def message_ids(self) -> list[str]:
        return [line.split(b":", 1)[1].strip().decode() for m in self.messages for line in m.splitlines()
                if line.lower().startswith(b"message-id:")]


@pytest.fixture
def smtp() -> Iterator[tuple[Catcher, int]]:
    catcher = Catcher()
    controller = Controller(catcher, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield catcher, controller.port
    finally:
        if catcher.data_gate is not None:
            catcher.data_gate.set()
        controller.stop()


@pytest.fixture
async def pool(fresh_db: Callable[[str], Any]) -> AsyncIterator[asyncpg.Pool]:
    db = await create_pool(await fresh_db("notifications"), max_size=6)
    try:
        yield db
    finally:
        await db.close()


def settings_for(port: int, **changes: Any) -> NotificationsSettings:
    values: dict[str, Any] = dict(smtp_host="127.0.0.1", smtp_port=port, smtp_timeout_s=5, email_batch=5,
                                  email_retry_base_s=0.01, email_retry_max_s=0.02, email_max_attempts=3)
    values.update(changes)
    return NotificationsSettings(**values)


def sender(pool: asyncpg.Pool, settings: NotificationsSettings) -> EmailSender:
    return EmailSender(pool, settings, make_uow(settings, SystemClock()), SmtpTransport(settings))


async def queue_orders(pool: asyncpg.Pool, settings: NotificationsSettings, count: int, prefix: str = "o") -> None:
    factory = make_uow(settings, SystemClock())
    for i in range(count):
        async with transaction(pool, factory) as uow:
            await handlers.order_placed(f.placed(f"{prefix}-{i}", f"buyer-{i}"), uow)
            await handlers.order_accepted(f.accepted(f"{prefix}-{i}", f"buyer-{i}"), uow)
            uow.commit()


async def emails(pool: asyncpg.Pool) -> list[asyncpg.Record]:
    return list(await pool.fetch("SELECT * FROM notifications WHERE channel = 'email' ORDER BY order_id"))


async def outbox(pool: asyncpg.Pool, message_type: str) -> list[dict[str, Any]]:
    """The payloads of the outbox's messages of a type; each row's headers are what the relay sends."""
    rows = await pool.fetch("SELECT value, headers FROM outbox WHERE message_type = $1 ORDER BY id", message_type)
    for row in rows:
        envelope = orjson.loads(row["value"])
        assert row["headers"] == {"type": message_type, "event_id": envelope["event_id"],
                                  "correlation_id": envelope["correlation_id"]}
    return [orjson.loads(r["value"])["payload"] for r in rows]


async def drain(*senders: EmailSender, until: Callable[[], Any], within_s: float = 15.0) -> None:
    """Run sender rounds (concurrently when several) until ``until()`` holds."""
    deadline = time.monotonic() + within_s
    while not await until():
        assert time.monotonic() < deadline, "the queue did not drain in time"
        await asyncio.gather(*(s.send_due() for s in senders))


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_r22_handling_the_same_event_twice_queues_one_email_and_one_app_message(
        pool: asyncpg.Pool) -> None:
    settings = NotificationsSettings()
    factory = make_uow(settings, SystemClock())
    for _ in range(2):
        async with transaction(pool, factory) as uow:
            await handlers.order_placed(f.placed("o-1"), uow)
            await handlers.order_accepted(f.accepted("o-1"), uow)
            uow.commit()
    rows = await pool.fetch("SELECT channel, status FROM notifications ORDER BY channel")
    assert [(r["channel"], r["status"]) for r in rows] == [("app", "sent"), ("email", "pending")]
    assert [p["channel"] for p in await outbox(pool, "NotificationSent")] == ["app"]


async def test_r22_a_notice_named_twice_in_one_run_is_stored_and_told_once(pool: asyncpg.Pool) -> None:
    from services.notifications import notices

    settings = NotificationsSettings()
    async with transaction(pool, make_uow(settings, SystemClock())) as uow:
        await handlers.order_placed(f.placed("o-1"), uow)
        notice = notices.notice_accepted(f.accepted("o-1"))
        assert notice is not None
        buyer = await uow.notifications.buyer("o-1")
        await handlers.tell_all(uow, [(notice, buyer, None), (notice, buyer, None)])
        uow.commit()
    rows = await pool.fetch("SELECT channel, status FROM notifications ORDER BY channel")
    assert [(r["channel"], r["status"]) for r in rows] == [("app", "sent"), ("email", "pending")]
    assert [p["channel"] for p in await outbox(pool, "NotificationSent")] == ["app"]


async def test_r22_two_senders_never_send_the_same_email(pool: asyncpg.Pool, smtp: tuple[Catcher, int]) -> None:
    catcher, port = smtp
    settings = settings_for(port)
    await queue_orders(pool, settings, 40)
    first, second = sender(pool, settings), sender(pool, settings)
    claims: dict[int, int] = {1: 0, 2: 0}

    async def counting(number: int, s: EmailSender) -> None:
        claims[number] += await s.send_due()

    async def all_sent() -> bool:
        return all(r["status"] == "sent" for r in await emails(pool))

    deadline = time.monotonic() + 15
    while not await all_sent():
        assert time.monotonic() < deadline
        await asyncio.gather(counting(1, first), counting(2, second))

    ids = catcher.message_ids()
    assert len(ids) == 40 and len(set(ids)) == 40
    assert claims[1] > 0 and claims[2] > 0 and claims[1] + claims[2] == 40  # both worked, on disjoint claims
    assert all(r["attempts"] == 1 for r in await emails(pool))
    sent = [p for p in await outbox(pool, "NotificationSent") if p["channel"] == "email"]
    assert len(sent) == 40 and {p["ship_by"] for p in sent} == {"2026-12-04"}


async def test_r22_one_round_sends_its_claim_over_several_connections_each_email_once(
        pool: asyncpg.Pool, smtp: tuple[Catcher, int]) -> None:
    catcher, port = smtp
    settings = settings_for(port, email_batch=12, smtp_connections=3)
    await queue_orders(pool, settings, 12)
    assert await sender(pool, settings).send_due() == 12
    ids = catcher.message_ids()
    assert len(ids) == 12 and len(set(ids)) == 12
    assert len(set(catcher.peers)) == 3
    assert [r["status"] for r in await emails(pool)] == ["sent"] * 12
    assert len([p for p in await outbox(pool, "NotificationSent") if p["channel"] == "email"]) == 12


async def test_r22_each_connection_puts_at_most_one_email_between_the_servers_250_and_its_record(
        pool: asyncpg.Pool, smtp: tuple[Catcher, int]) -> None:
    catcher, port = smtp
    # the server answers the first DATA only when four are waiting: the connections send side by side
    catcher.data_gate, catcher.gate_after = threading.Event(), 4
    settings = settings_for(port, email_batch=12, smtp_connections=4)
    await queue_orders(pool, settings, 12)
    one = sender(pool, settings)
    record = one.record.sent

    async def record_and_count(email: Any, token: uuid.UUID) -> None:
        await record(email, token)
        catcher.recorded()

    one.record.sent = record_and_count  # type: ignore[method-assign]
    round_ = asyncio.create_task(one.send_due())
    assert await asyncio.to_thread(catcher.data_started.wait, 15), "four messages were never in DATA at once"
    catcher.data_gate.set()
    assert await round_ == 12
    assert len(set(catcher.peers)) == 4 and len(set(catcher.message_ids())) == 12
    assert catcher.unrecorded == 0
    # a crash could send at most one email twice per connection
    assert 1 <= catcher.most_unrecorded <= settings.smtp_connections


async def test_r22_a_stop_mid_round_records_the_message_in_data_sends_no_other_and_none_twice(
        pool: asyncpg.Pool, smtp: tuple[Catcher, int], monkeypatch: pytest.MonkeyPatch) -> None:
    catcher, port = smtp
    # the stop comes while each of the four connections waits for its 250: the server holds every DATA
    # until the sender has seen the stop
    catcher.data_gate, catcher.gate_after = threading.Event(), 4
    stopped = asyncio.Event()
    stop = SendBy.stop

    def stop_and_tell(send_by: SendBy) -> None:
        stop(send_by)
        stopped.set()

    monkeypatch.setattr(SendBy, "stop", stop_and_tell)
    settings = settings_for(port, email_batch=8, smtp_connections=4)
    await queue_orders(pool, settings, 8)
    one = sender(pool, settings)
    round_ = asyncio.create_task(one.send_due())
    assert await asyncio.to_thread(catcher.data_started.wait, 15), "four messages never reached DATA"
    round_.cancel()
    await asyncio.wait_for(stopped.wait(), 15)
    catcher.data_gate.set()
    with pytest.raises(asyncio.CancelledError):
        await round_
    first = set(catcher.message_ids())
    # the four messages in DATA went out and were recorded before the claim was released; no connection
    # started another, so the stop waits for one server reply per connection
    assert len(first) == 4
    assert [r["status"] for r in await emails(pool)].count("sent") == 4
    await drain(one, until=lambda: _all_sent(pool))
    ids = catcher.message_ids()
    assert len(ids) == 8 and len(set(ids)) == 8


async def _all_sent(pool: asyncpg.Pool) -> bool:
    return all(r["status"] == "sent" for r in await emails(pool))


async def test_a_transient_rejection_is_retried_then_failed_and_reported(
        pool: asyncpg.Pool, smtp: tuple[Catcher, int]) -> None:
    catcher, port = smtp
    catcher.rcpt_reply = "451 4.7.1 greylisted, try later"
    settings = settings_for(port)
    await queue_orders(pool, settings, 1)
    failed_before = sample("backorder_notifications_total", channel="email", kind="backorder_accepted",
                           outcome="failed")

    async def failed() -> bool:
        return (await emails(pool))[0]["status"] == "failed"

    await drain(sender(pool, settings), until=failed)
    (row,) = await emails(pool)
    assert row["attempts"] == 3 and "451" in row["last_error"] and catcher.messages == []
    (event,) = await outbox(pool, "NotificationFailed")
    assert event["attempts"] == 3 and event["channel"] == "email" and event["order_id"] == "o-0"
    assert sample("backorder_notifications_total", channel="email", kind="backorder_accepted",
                  outcome="failed") == failed_before + 1


async def test_a_permanent_rejection_fails_at_once_without_the_address(
        pool: asyncpg.Pool, smtp: tuple[Catcher, int]) -> None:
    catcher, port = smtp
    catcher.rcpt_reply = f"550 5.1.1 <{f.email_of('buyer-0')}>: no such user"
    settings = settings_for(port)
    await queue_orders(pool, settings, 1)

    async def failed() -> bool:
        return (await emails(pool))[0]["status"] == "failed"

    await drain(sender(pool, settings), until=failed)
    (row,) = await emails(pool)
    assert row["attempts"] == 1 and "550" in row["last_error"]
    assert f.email_of("buyer-0") not in row["last_error"]
    (event,) = await outbox(pool, "NotificationFailed")
    assert f.email_of("buyer-0") not in event["error"]


async def test_r22_a_round_that_sends_all_it_claimed_costs_its_claim_and_one_statement_per_email(
        pool: asyncpg.Pool, smtp: tuple[Catcher, int]) -> None:
    catcher, port = smtp
    settings = settings_for(port)
    await queue_orders(pool, settings, 3)
    await pool.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    dbid = await pool.fetchval("SELECT oid FROM pg_database WHERE datname = current_database()")
    await pool.execute("SELECT pg_stat_statements_reset(0, $1, 0)", dbid)
    assert await sender(pool, settings).send_due() == 3
    calls = await pool.fetch(
        "SELECT left(query, 12) AS statement, calls FROM pg_stat_statements "
        "WHERE dbid = $1 AND query NOT LIKE '%pg_stat_statements%' ORDER BY 2, 1", dbid)
    # the claim is one statement on its own; each email's record one more; no transaction, no release
    assert [(r["statement"], r["calls"]) for r in calls] == [("WITH due AS ", 1), ("WITH sent AS", 3)]
    assert len(catcher.messages) == 3


async def test_smtp_unreachable_leaves_the_emails_pending_and_counts_no_attempt(pool: asyncpg.Pool) -> None:
    settings = settings_for(free_port())  # nothing listens there
    await queue_orders(pool, settings, 3)
    with pytest.raises(SmtpUnavailable):
        await sender(pool, settings).send_due()
    assert [(r["status"], r["attempts"]) for r in await emails(pool)] == [("pending", 0)] * 3


async def test_a_dead_senders_claim_is_taken_over_when_its_lease_ends(
        pool: asyncpg.Pool, smtp: tuple[Catcher, int]) -> None:
    catcher, port = smtp
    settings = settings_for(port)
    await queue_orders(pool, settings, 1)
    async with pool.acquire() as conn, conn.transaction():  # a sender claims it, then dies
        claimed = await NotificationsRepository(conn).claim_emails(uuid.uuid4(), 5, lease_s=0.5)
    assert len(claimed) == 1
    survivor = sender(pool, settings)
    assert await survivor.send_due() == 0  # still leased: not due

    async def sent() -> bool:
        return (await emails(pool))[0]["status"] == "sent"

    await drain(survivor, until=sent)
    assert len(catcher.messages) == 1 and (await emails(pool))[0]["attempts"] == 2


async def test_a_claim_too_short_to_finish_is_released_untried(
        pool: asyncpg.Pool, smtp: tuple[Catcher, int]) -> None:
    catcher, port = smtp
    settings = settings_for(port, email_lease_s=1.0)  # shorter than a send may take: never start one
    await queue_orders(pool, settings, 2)
    assert await sender(pool, settings).send_due() == 2
    assert catcher.messages == []
    assert [(r["status"], r["attempts"], r["claim_token"]) for r in await emails(pool)] == [("pending", 0, None)] * 2


async def test_a_message_whose_turn_comes_too_late_for_the_lease_is_released_untried(
        pool: asyncpg.Pool, smtp: tuple[Catcher, int]) -> None:
    catcher, port = smtp
    catcher.data_delay_s = 0.5  # the first message's DATA holds the connection past the second one's last moment
    settings = settings_for(port, email_batch=2, smtp_connections=1, smtp_timeout_s=1.0, email_lease_s=6.3)
    await queue_orders(pool, settings, 2)
    assert await sender(pool, settings).send_due() == 2
    assert len(catcher.messages) == 1
    assert sorted((r["status"], r["attempts"], r["claim_token"]) for r in await emails(pool)) == [
        ("pending", 0, None), ("sent", 1, None)]


async def test_emails_unsent_for_too_long_are_failed_and_reported(pool: asyncpg.Pool) -> None:
    settings = settings_for(free_port(), email_expire_after_s=3600)
    await queue_orders(pool, settings, 2)
    await pool.execute("UPDATE notifications SET created_at = now() - interval '2 hours' WHERE order_id = 'o-0'")
    await sender(pool, settings).housekeeping()
    assert [(r["order_id"], r["status"]) for r in await emails(pool)] == [("o-0", "failed"), ("o-1", "pending")]
    (event,) = await outbox(pool, "NotificationFailed")
    assert event["order_id"] == "o-0" and "expired" in event["error"]


async def test_inbox_unread_until_marked_read(pool: asyncpg.Pool) -> None:
    settings = NotificationsSettings()
    await queue_orders(pool, settings, 1)
    async with pool.acquire() as conn:
        repo = NotificationsRepository(conn)
        assert await repo.unread_count("buyer-0") == 1
        (app,) = await repo.list_by_buyer("buyer-0", channel="app", unread_only=True)
        assert await repo.mark_read("buyer-0", [app["notification_id"]]) == [app["notification_id"]]
        assert await repo.unread_count("buyer-0") == 0
        assert await repo.list_by_buyer("buyer-0", unread_only=True) == []


async def test_a_connection_is_kept_between_rounds_and_closed_once_idle(
        pool: asyncpg.Pool, smtp: tuple[Catcher, int]) -> None:
    catcher, port = smtp
    settings = settings_for(port, smtp_connections=1)
    one = sender(pool, settings)
    await queue_orders(pool, settings, 2, prefix="first")
    assert await one.send_due() == 2
    assert await one.send_due() == 0  # nothing due: the connection has not been idle long, it stays
    await queue_orders(pool, settings, 2, prefix="then")
    assert await one.send_due() == 2
    assert len(catcher.peers) == 4 and len(set(catcher.peers)) == 1  # one connection for both rounds
    await one.smtp.close_idle(idle_s=0.0)
    assert one.smtp.open == []
    await queue_orders(pool, settings, 1, prefix="last")
    assert await one.send_due() == 1
    assert len(set(catcher.peers)) == 2  # a new connection after it was closed
