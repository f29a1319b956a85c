"""The SMTP connection (aiosmtplib) and its errors, sorted into retry or give up (the messages themselves:
``message.py``)."""

from __future__ import annotations

import contextlib
import math
import ssl
import time
from typing import Any, Protocol

import aiosmtplib
from aiosmtplib.typing import SMTPStatus

from services.notifications.message import Wire
from services.notifications.settings import NotificationsSettings
from shared.observability.logging import EMAIL, REDACTED


def scrub(error: str, limit: int = 1000) -> str:
    """An SMTP error often quotes the recipient: keep the address out of the database, events and logs."""
    return EMAIL.sub(REDACTED, error)[:limit]


# ---------------------------------------------------------------- errors


class SmtpUnavailable(Exception):
    """No session with the server (refused, timed out, TLS or authentication failed): nothing was sent."""


class NotSent(Exception):
    """The message was not sent, and not tried: it goes back to the queue untouched."""


class SendBy:
    """Until when a message may still start ``DATA``: a moment (``time.monotonic()``) that leaves time to
    record the result within the claim's lease, and never once the sender is stopping (a message that
    has not started then goes back untried, so a stop waits for one message in flight at most)."""

    def __init__(self, at: float = math.inf) -> None:
        self.at = at

    def passed(self) -> bool:
        return time.monotonic() > self.at

    def stop(self) -> None:
        self.at = -math.inf


class DeliveryError(Exception):
    """One message was not accepted."""

    def __init__(self, error: str, permanent: bool, connection_lost: bool) -> None:
        super().__init__(error)
        self.error = error
        self.permanent = permanent  # a 5xx reply: trying again will not help
        self.connection_lost = connection_lost  # the session is gone: its connection reconnects after a backoff


#: "service not available, closing transmission channel" (RFC 5321, 3.8): whatever command it answers, the
#: server is ending the session
CLOSING = 421


def classify(exc: BaseException) -> DeliveryError:
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients]
        detail = "; ".join(f"{r.code} {r.message}" for r in exc.recipients)
        return DeliveryError(scrub(f"recipient refused: {detail}"), bool(codes) and min(codes) >= 500,
                             CLOSING in codes)
    if isinstance(exc, aiosmtplib.SMTPServerDisconnected | aiosmtplib.SMTPTimeoutError):
        return DeliveryError(scrub(f"{type(exc).__name__}: {exc}"), False, True)
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return DeliveryError(scrub(f"{exc.code} {exc.message}"), exc.code >= 500, exc.code == CLOSING)
    if isinstance(exc, OSError | TimeoutError):
        return DeliveryError(scrub(f"{type(exc).__name__}: {exc}"), False, True)
    return DeliveryError(scrub(f"{type(exc).__name__}: {exc}"), False, False)


# ---------------------------------------------------------------- the connection


class MailSession(Protocol):
    async def send(self, message: Wire, send_by: SendBy | None = None) -> None: ...
    async def close(self) -> None: ...


class MailTransport(Protocol):
    async def connect(self) -> MailSession: ...


class _DeadlineSMTP(aiosmtplib.SMTP):
    """aiosmtplib's client, whose ``DATA`` is not sent once its message's ``send_by`` has passed (the claim's
    lease could run out before the result is recorded, or the sender is stopping): the envelope may have
    gone, the message has not, and it goes back to the queue untried."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.send_by: SendBy | None = None

    async def data(self, message: str | bytes, /, *, timeout: Any = aiosmtplib.smtp.Default.token
                   ) -> aiosmtplib.SMTPResponse:
        if self.send_by is not None and self.send_by.passed():
            raise NotSent("too late: after the claim's lease left time to record it, or a stop")
        return await super().data(message, timeout=timeout)


class _AioSmtpSession:
    def __init__(self, client: _DeadlineSMTP, timeout: float) -> None:
        self.client = client
        self.timeout = timeout

    async def send(self, message: Wire, send_by: SendBy | None = None) -> None:
        """Send one message (``NotSent`` when its ``send_by`` passed before ``DATA``). The caller records the
        result before it sends the next one on this session: R22's window is one email per session."""
        self.client.send_by = send_by
        try:
            if isinstance(message.message, bytes):
                await self._transaction(message.sender, message.recipient, message.message)
            else:  # an address in UTF-8 or that needs quoting: the standard library's message, via aiosmtplib
                await self.client.send_message(message.message, timeout=self.timeout)
        except NotSent:
            raise
        except Exception as exc:
            raise classify(exc) from exc

    async def _transaction(self, sender: str, recipient: str, message: bytes) -> None:
        """``MAIL``, ``RCPT`` and ``DATA``, as aiosmtplib's ``sendmail`` sends them (and ``RSET`` after a refusal),
        without its parsing and quoting of both addresses for every message: ``message.Wire`` carries bytes only
        for plain ASCII addresses, checked once when the message is built."""
        client = self.client
        if client.is_ehlo_or_helo_needed:
            await client.ehlo(timeout=self.timeout)
        try:
            reply = await client.execute_command(b"MAIL", b"FROM:<%s>" % sender.encode(), timeout=self.timeout)
            if reply.code != SMTPStatus.completed:
                raise aiosmtplib.SMTPSenderRefused(reply.code, reply.message, sender)
            reply = await client.execute_command(b"RCPT", b"TO:<%s>" % recipient.encode(), timeout=self.timeout)
            if reply.code not in (SMTPStatus.completed, SMTPStatus.will_forward):
                raise aiosmtplib.SMTPRecipientsRefused(
                    [aiosmtplib.SMTPRecipientRefused(reply.code, reply.message, recipient)])
            await client.data(message, timeout=self.timeout)
        except (aiosmtplib.SMTPResponseException, aiosmtplib.SMTPRecipientsRefused):
            with contextlib.suppress(ConnectionError, aiosmtplib.SMTPException):
                await client.rset(timeout=self.timeout)
            raise

    async def close(self) -> None:
        try:
            await self.client.quit(timeout=min(self.timeout, 2.0))
        except Exception:
            self.client.close()


class SmtpTransport:
    """aiosmtplib with implicit TLS, STARTTLS and authentication as configured."""

    def __init__(self, settings: NotificationsSettings) -> None:
        self.settings = settings

    def client(self) -> _DeadlineSMTP:
        s = self.settings
        credentials = bool(s.smtp_username)
        start_tls: bool | None = None  # auto: upgrade when the server offers it
        if s.smtp_implicit_tls or s.smtp_starttls == "off":
            start_tls = False
        elif s.smtp_starttls == "required" or credentials:
            start_tls = True  # never send a password in plain text
        context = ssl.create_default_context(cafile=s.smtp_cafile) if s.smtp_cafile else None
        return _DeadlineSMTP(
            hostname=s.smtp_host, port=s.smtp_port, use_tls=s.smtp_implicit_tls, start_tls=start_tls,
            validate_certs=s.smtp_validate_certs, tls_context=context, timeout=s.smtp_timeout_s,
            username=s.smtp_username, password=s.smtp_password.get_secret_value() if s.smtp_password else None,
        )

    async def connect(self) -> MailSession:
        client = self.client()
        try:
            await client.connect()
        except Exception as exc:  # refused, timeout, TLS, authentication: the server's fault, not a message's
            client.close()
            raise SmtpUnavailable(scrub(f"{type(exc).__name__}: {exc}")) from exc
        return _AioSmtpSession(client, self.settings.smtp_timeout_s)
