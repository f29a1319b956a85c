"""A pool of SMTP connections, each with its own reconnect backoff and its own pause after a temporary refusal.

A connection is opened when a round has emails for it and kept while rounds keep finding work, so a drain pays
one connect and EHLO per connection, not one per batch, and a steady trickle of emails none per email; one left
idle for ``IDLE_S`` is closed (``close_idle``), long before a server would drop it (RFC 5321 asks servers to
wait five minutes for a command). A connection the server refused or lost waits out
its own backoff (``SMTP_RECONNECT_BASE_S`` doubled per failure, up to ``SMTP_RECONNECT_MAX_S``) while the others
go on; a connection whose message was refused for now (4xx: greylisting, a provider's rate limit) pauses as
long before its next message, so a throttling provider sees the sender slow down.

R22's window is per connection: each sends one message at a time and records its result before its next
``DATA`` (``sender.py``), so N connections put at most N emails between the server's ``250`` and their record.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field

import structlog

from services.notifications.mail import MailSession, MailTransport, SmtpUnavailable
from services.notifications.settings import NotificationsSettings

log = structlog.get_logger(__name__)

#: how long a connection may stay open with nothing to send
IDLE_S = 10.0


@dataclass
class Connection:
    """One place in the pool: its session when open, and its own backoff."""

    number: int
    session: MailSession | None = None
    failures: int = 0  # connects refused or connections lost in a row
    refusals: int = 0  # temporary refusals of messages in a row
    reconnect_at: float = 0.0  # time.monotonic()
    send_at: float = 0.0
    used_at: float = 0.0  # its last message's end
    error: str = field(default="", repr=False)


class SmtpPool:
    def __init__(self, transport: MailTransport, settings: NotificationsSettings) -> None:
        self.transport = transport
        self.settings = settings
        self.connections = [Connection(n) for n in range(settings.smtp_connections)]

    def _delay(self, failures: int) -> float:
        s = self.settings
        return min(s.smtp_reconnect_max_s, s.smtp_reconnect_base_s * 2 ** min(max(failures, 1) - 1, 16))

    @property
    def open(self) -> list[Connection]:
        return [c for c in self.connections if c.session is not None]

    async def ensure(self, wanted: int) -> list[Connection]:
        """Up to ``wanted`` open connections: those open, then new ones (side by side) where the backoff allows.
        ``SmtpUnavailable`` when none is open: the server's fault, so the caller claims nothing."""
        now = time.monotonic()
        closed = [c for c in self.connections if c.session is None and c.reconnect_at <= now]
        missing = max(0, min(wanted, len(self.connections)) - len(self.open))
        await asyncio.gather(*(self._connect(c) for c in closed[:missing]))
        if not self.open:  # the server is down for every connection: none is tried before the first backoff ends
            waits = [c.reconnect_at for c in self.connections if c.failures]
            for c in self.connections:
                c.reconnect_at = max(c.reconnect_at, min(waits, default=0.0))
            errors = [c.error for c in self.connections if c.error]
            raise SmtpUnavailable(errors[-1] if errors else "every connection is waiting out its backoff")
        return self.open

    def next_reconnect_in(self) -> float:
        """How long until a closed connection may be tried again (the sender's wait when none is open)."""
        now = time.monotonic()
        return max(0.0, min((c.reconnect_at for c in self.connections if c.session is None), default=now) - now)

    async def _connect(self, connection: Connection) -> None:
        try:
            connection.session = await self.transport.connect()
        except SmtpUnavailable as exc:
            self._failed(connection, str(exc))
            return
        connection.used_at = time.monotonic()
        if connection.failures:
            log.info("smtp_connection_restored", connection=connection.number, after_failures=connection.failures)
        connection.failures, connection.error = 0, ""

    def _failed(self, connection: Connection, error: str) -> None:
        connection.failures += 1
        connection.error = error
        delay = self._delay(connection.failures)
        connection.reconnect_at = time.monotonic() + delay
        log.warning("smtp_connection_failed", connection=connection.number, error=error,
                    failures=connection.failures, retry_in_s=round(delay, 2))

    async def lost(self, connection: Connection, error: str) -> None:
        """The session broke (a timeout, a reset, a 421): closed, and reopened after its backoff."""
        session, connection.session = connection.session, None
        self._failed(connection, error)
        if session is not None:
            await session.close()

    def refused(self, connection: Connection) -> None:
        """A message was refused for now: this connection pauses before its next one, longer each time."""
        connection.refusals += 1
        connection.send_at = time.monotonic() + self._delay(connection.refusals)

    def accepted(self, connection: Connection) -> None:
        connection.refusals = 0

    def used(self, connection: Connection) -> None:
        connection.used_at = time.monotonic()

    async def close_idle(self, idle_s: float = IDLE_S) -> None:
        """Close the connections that sent nothing for ``idle_s``."""
        now = time.monotonic()
        for connection in self.connections:
            if connection.session is not None and now - connection.used_at >= idle_s:
                await self._close(connection)

    @staticmethod
    async def _close(connection: Connection) -> None:
        session, connection.session = connection.session, None
        if session is not None:
            with contextlib.suppress(Exception):
                await session.close()

    async def close(self) -> None:
        for connection in self.connections:
            await self._close(connection)
