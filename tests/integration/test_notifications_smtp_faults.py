"""Real SMTP behaviour against a real server (aiosmtpd in this process) whose handler misbehaves: temporary
refusals (421, 451) and a throttling provider slow the sender down and lose nothing; a permanent refusal
(550) is recorded as failed with its reason and never tried again; a server that stops answering times out
and the pool goes on with its other connections; and through all of these each email is sent and announced
once (R22's marker: one ``Message-ID``, one ``NotificationSent``)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import asyncpg
import pytest
from aiosmtpd.controller import Controller

from devstack.processes import free_port
from services.notifications.mail import SmtpUnavailable
from services.notifications.sender import EmailSender
from tests.integration.test_notifications_sender import (
    emails,
    outbox,
    pool,
    queue_orders,
    sender,
    settings_for,
)

__all__ = ["pool"]  # the fixture, shared with the sender's tests


class Misbehaving:
    """Accepts mail, unless ``refuse(message_id, attempt)`` returns a reply for its DATA; records what it saw."""

    def __init__(self) -> None:
        self.accepted: list[str] = []  # Message-IDs, in order
        self.tries: Counter[str] = Counter()  # DATA per Message-ID
        self.events: list[tuple[float, str, Any]] = []  # (time, "MAIL" | reply code, session peer)
        self.lock = threading.Lock()
        self.release = threading.Event()  # ends a silent DATA at teardown

    def refuse(self, message_id: str, attempt: int) -> str | None:
        return None

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str,
                          mail_options: list[str]) -> str:
        with self.lock:
            self.events.append((time.monotonic(), "MAIL", session.peer))
        envelope.mail_from = address
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content = envelope.original_content or envelope.content
        message_id = next(line.split(b":", 1)[1].strip().decode() for line in content.splitlines()
                          if line.lower().startswith(b"message-id:"))
        with self.lock:
            self.tries[message_id] += 1
            attempt = self.tries[message_id]
        reply = self.refuse(message_id, attempt)
        if reply == "silence":
            await asyncio.to_thread(self.release.wait, 30)
            return "451 4.4.2 too late"
        with self.lock:
            self.events.append((time.monotonic(), (reply or "250")[:3], session.peer))
            if reply is None:
                self.accepted.append(message_id)
        return reply or "250 OK"

    def pauses_after_refusals(self) -> list[float]:
        """For each refusal, the time until the next MAIL (one connection: its next message)."""
        gaps = []
        for n, (at, what, _) in enumerate(self.events):
            if what not in ("250", "MAIL"):
                following = [t for t, w, _ in self.events[n + 1:] if w == "MAIL"]
                if following:
                    gaps.append(following[0] - at)
        return gaps


@contextlib.contextmanager
def serving(handler: Misbehaving) -> Iterator[int]:
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller.port
    finally:
        handler.release.set()
        controller.stop()


async def sent_once_each(pool_: asyncpg.Pool, handler: Misbehaving, count: int) -> list[asyncpg.Record]:
    """R22's marker after it all: every email accepted once by the server, marked sent, announced once."""
    rows = await emails(pool_)
    assert [r["status"] for r in rows] == ["sent"] * count
    assert sorted(handler.accepted) == sorted(set(handler.accepted)) and len(handler.accepted) == count
    announced = [p["notification_id"] for p in await outbox(pool_, "NotificationSent") if p["channel"] == "email"]
    assert sorted(announced) == sorted(str(r["notification_id"]) for r in rows)
    return rows


async def drain(one: EmailSender, until: Callable[[], Awaitable[bool]], within_s: float = 20.0) -> None:
    """Sender rounds until ``until()``; a round with every connection waiting out its backoff waits too."""
    deadline = time.monotonic() + within_s
    while not await until():
        assert time.monotonic() < deadline, "the queue did not drain in time"
        try:
            await one.send_due()
        except SmtpUnavailable:
            await asyncio.sleep(one.smtp.next_reconnect_in())


async def all_sent(pool_: asyncpg.Pool) -> bool:
    return all(r["status"] == "sent" for r in await emails(pool_))


@pytest.mark.parametrize("reply", ["451 4.3.0 try again later", "421 4.3.2 closing, try again later"])
async def test_r22_a_temporary_refusal_slows_the_connection_and_loses_nothing(pool: asyncpg.Pool, reply: str) -> None:
    class RefuseFirstTry(Misbehaving):
        def refuse(self, message_id: str, attempt: int) -> str | None:
            return reply if attempt == 1 else None

    handler = RefuseFirstTry()
    with serving(handler) as port:
        settings = settings_for(port, smtp_connections=1, smtp_reconnect_base_s=0.3)
        await queue_orders(pool, settings, 3)
        await drain(sender(pool, settings), until=lambda: all_sent(pool))
    rows = await sent_once_each(pool, handler, 3)
    assert [r["attempts"] for r in rows] == [2, 2, 2]
    assert set(handler.tries.values()) == {2}
    gaps = handler.pauses_after_refusals()
    assert len(gaps) == 3 and min(gaps) >= 0.3 * 0.9  # the connection waited before its next message


async def test_r22_a_throttling_provider_is_sent_to_more_slowly_and_loses_nothing(pool: asyncpg.Pool) -> None:
    class Throttling(Misbehaving):
        """At most 10 messages a second; over that, 451."""

        def refuse(self, message_id: str, attempt: int) -> str | None:
            now = time.monotonic()
            with self.lock:
                recent = [t for t, what, _ in self.events if what == "250" and now - t < 1.0]
            return "451 4.7.1 rate limited, slow down" if len(recent) >= 10 else None

    handler = Throttling()
    with serving(handler) as port:
        settings = settings_for(port, email_batch=40, smtp_connections=4, smtp_reconnect_base_s=0.2,
                                email_max_attempts=20)
        await queue_orders(pool, settings, 40)
        await drain(sender(pool, settings), until=lambda: all_sent(pool), within_s=60)
    await sent_once_each(pool, handler, 40)
    refusals = [e for e in handler.events if e[1] == "451"]
    assert refusals  # the provider did throttle
    accepted_at = sorted(t for t, what, _ in handler.events if what == "250")
    assert accepted_at[-1] - accepted_at[0] >= 3.0  # 40 at 10 a second at most
    # each refused connection paused before its next message (one per peer: each connection alone)
    for at, _, peer in refusals:
        following = [t for t, what, p in handler.events if what == "MAIL" and p == peer and t > at]
        assert not following or following[0] - at >= 0.2 * 0.9


async def test_a_permanent_refusal_is_failed_with_its_reason_and_never_tried_again(pool: asyncpg.Pool) -> None:
    class RefuseOne(Misbehaving):
        victim = ""

        def refuse(self, message_id: str, attempt: int) -> str | None:
            return "550 5.7.1 message content rejected" if message_id == self.victim else None

    handler = RefuseOne()
    with serving(handler) as port:
        settings = settings_for(port, smtp_connections=2)
        await queue_orders(pool, settings, 4)
        rows = await emails(pool)
        handler.victim = f"<{rows[0]['notification_id']}@{settings.mail_domain}>"
        one = sender(pool, settings)

        async def settled() -> bool:
            return all(r["status"] in ("sent", "failed") for r in await emails(pool))

        await drain(one, until=settled)
        for _ in range(3):  # more rounds find nothing to do: the failed email is not tried again
            assert await one.send_due() == 0
    rows = await emails(pool)
    assert [(r["status"], r["attempts"]) for r in rows] == [("failed", 1), ("sent", 1), ("sent", 1), ("sent", 1)]
    assert rows[0]["last_error"] == "550 5.7.1 message content rejected"
    assert handler.tries[handler.victim] == 1
    (failed,) = await outbox(pool, "NotificationFailed")
    assert failed["error"] == "550 5.7.1 message content rejected" and failed["attempts"] == 1
    assert len(set(handler.accepted)) == len(handler.accepted) == 3


async def test_r22_a_server_that_stops_answering_times_out_and_the_pool_goes_on(pool: asyncpg.Pool) -> None:
    class SilentOnce(Misbehaving):
        victim = ""

        def refuse(self, message_id: str, attempt: int) -> str | None:
            return "silence" if message_id == self.victim and attempt == 1 else None

    handler = SilentOnce()
    with serving(handler) as port:
        settings = settings_for(port, email_batch=6, smtp_connections=2, smtp_timeout_s=1.0,
                                smtp_reconnect_base_s=0.1)
        await queue_orders(pool, settings, 6)
        rows = await emails(pool)
        handler.victim = f"<{rows[0]['notification_id']}@{settings.mail_domain}>"
        one = sender(pool, settings)
        started = time.monotonic()
        assert await one.send_due() == 6
        took = time.monotonic() - started
        first_round = sorted(r["status"] for r in await emails(pool))
        await drain(one, until=lambda: all_sent(pool))
    # the other connection sent the five others while the silent one waited for its timeout
    assert first_round == ["pending"] + ["sent"] * 5 and took < 5
    rows = await sent_once_each(pool, handler, 6)
    assert [r["attempts"] for r in rows] == [2, 1, 1, 1, 1, 1]


@pytest.fixture
async def never_greets() -> AsyncIterator[int]:
    """A server that accepts the connection and never says a word."""
    held: list[asyncio.StreamWriter] = []

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_a_server_that_never_greets_times_out_claims_nothing_and_counts_no_attempt(
        pool: asyncpg.Pool, never_greets: int) -> None:
    settings = settings_for(never_greets, smtp_timeout_s=0.5, smtp_connections=2)
    await queue_orders(pool, settings, 2)
    one = sender(pool, settings)
    started = time.monotonic()
    with pytest.raises(SmtpUnavailable):
        await one.send_due()
    assert time.monotonic() - started < 3
    assert [(r["status"], r["attempts"]) for r in await emails(pool)] == [("pending", 0)] * 2
    assert one.smtp.next_reconnect_in() > 0  # and the connection waits out its backoff before the next try
