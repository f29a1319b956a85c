"""Emails as MIME messages, and the SMTP connection (aiosmtplib) with its errors sorted."""

from __future__ import annotations

import asyncio
import math
import ssl
import time
from email.headerregistry import BaseHeader, HeaderRegistry
from email.message import EmailMessage
from email.policy import default as standard_policy
from email.utils import format_datetime
from typing import Any, Protocol

import aiosmtplib

from services.notifications.domain import OutgoingEmail, message_id
from services.notifications.rendering import TEMPLATES_LANGUAGE
from services.notifications.settings import NotificationsSettings
from shared.observability.logging import EMAIL, REDACTED


class _HeaderClasses(HeaderRegistry):
    """The standard header registry, whose class for a header name is made once, not for every header.

    CPython's registry builds a new class each time a header is set or looked up, and that class
    building was a large share of the sender's CPU per email; caching the class changes nothing on
    the wire (figures: docs/scaling.md, "Figures behind the code's choices")."""

    def __init__(self) -> None:
        super().__init__()
        self._made: dict[str, type[BaseHeader]] = {}

    def __getitem__(self, name: str) -> type[BaseHeader]:
        key = name.lower()
        made = self._made.get(key)
        if made is None:
            made = self._made[key] = super().__getitem__(name)
        return made


#: ``email.policy.default`` with the header classes made once
POLICY = standard_policy.clone(header_factory=_HeaderClasses())


def build_message(email: OutgoingEmail, settings: NotificationsSettings) -> EmailMessage:
    """The same notification always gives the same headers: a resend is recognisably the same mail."""
    assert email.recipient is not None
    msg = EmailMessage(policy=POLICY)
    msg["From"] = settings.mail_from
    msg["To"] = email.recipient
    msg["Subject"] = email.subject
    msg["Date"] = format_datetime(email.created_at)
    msg["Message-ID"] = message_id(email.notification_id, settings.mail_domain)
    # every message about one order threads together in the buyer's mail client; a seller's alerts (R32)
    # thread per SKU
    if email.order_id is not None and email.seller_id is None:
        msg["References"] = f"<order.{email.order_id}@{settings.mail_domain}>"
    else:
        msg["References"] = f"<sku.{email.sku_id}.{email.seller_id}@{settings.mail_domain}>"
        msg["X-Sku-Id"] = email.sku_id or ""
    if email.order_id is not None:
        msg["X-Order-Id"] = email.order_id
    msg["X-Notification-Id"] = email.notification_id
    msg["X-Notification-Kind"] = email.kind
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies
    msg.set_content(email.body_text)
    if email.body_html:
        msg.add_alternative(email.body_html, subtype="html")
    # after the parts (set_content drops Content-* headers): the copy is English; only dates follow the locale
    msg["Content-Language"] = TEMPLATES_LANGUAGE
    return msg


def message_bytes(email: OutgoingEmail, settings: NotificationsSettings) -> bytes:
    """The message as it goes on the wire (what aiosmtplib's ``send_message`` would send)."""
    from aiosmtplib.email import flatten_message

    return flatten_message(build_message(email, settings))


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
        self.connection_lost = connection_lost  # the session is gone: the rest of the batch waits


def classify(exc: BaseException) -> DeliveryError:
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients]
        detail = "; ".join(f"{r.code} {r.message}" for r in exc.recipients)
        return DeliveryError(scrub(f"recipient refused: {detail}"), bool(codes) and min(codes) >= 500, False)
    if isinstance(exc, aiosmtplib.SMTPServerDisconnected | aiosmtplib.SMTPTimeoutError):
        return DeliveryError(scrub(f"{type(exc).__name__}: {exc}"), False, True)
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return DeliveryError(scrub(f"{exc.code} {exc.message}"), exc.code >= 500, False)
    if isinstance(exc, OSError | TimeoutError):
        return DeliveryError(scrub(f"{type(exc).__name__}: {exc}"), False, True)
    return DeliveryError(scrub(f"{type(exc).__name__}: {exc}"), False, False)


# ---------------------------------------------------------------- the connection


class MailSession(Protocol):
    async def send(self, message: EmailMessage, send_by: SendBy | None = None) -> None: ...
    def recorded(self) -> None: ...
    async def close(self) -> None: ...


class MailTransport(Protocol):
    async def connect(self) -> MailSession: ...


class _WindowedSMTP(aiosmtplib.SMTP):
    """aiosmtplib's client, whose ``DATA`` first takes the sender's *window*: the lock held from the DATA
    command, through the server's ``250``, until the sender recorded the result (``leave_window``).

    Between that ``250`` and the record a crash would send the email again (R22): with the window, a
    sender's sessions prepare their messages side by side (envelope, ``MAIL``, ``RCPT``) but only one at a
    time is ever in that stretch, so several sessions put no more emails at risk than one."""

    def __init__(self, *args: Any, window: asyncio.Lock, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.window = window
        self.in_window = False
        #: after which the message in hand must not be sent (its claim's lease, or a stop)
        self.send_by: SendBy | None = None

    async def data(self, message: str | bytes, /, *, timeout: Any = aiosmtplib.smtp.Default.token
                   ) -> aiosmtplib.SMTPResponse:
        if not self.in_window:
            await self.window.acquire()
            self.in_window = True
        if self.send_by is not None and self.send_by.passed():
            self.leave_window()
            raise NotSent("its turn came too late: after the claim's lease left time to record it, or a stop")
        return await super().data(message, timeout=timeout)

    def leave_window(self) -> None:
        if self.in_window:
            self.in_window = False
            self.window.release()


class _AioSmtpSession:
    def __init__(self, client: _WindowedSMTP, timeout: float) -> None:
        self.client = client
        self.timeout = timeout

    async def send(self, message: EmailMessage, send_by: SendBy | None = None) -> None:
        """Send; the session is then in the sender's window (if it got as far as DATA) until ``recorded``.
        ``NotSent`` when the turn for DATA came after ``send_by``."""
        self.client.send_by = send_by
        try:
            await self.client.send_message(message, timeout=self.timeout)
        except NotSent:
            raise
        except Exception as exc:
            raise classify(exc) from exc

    def recorded(self) -> None:
        """The result of the message sent last is recorded: another session may send its own."""
        self.client.leave_window()

    async def close(self) -> None:
        self.client.leave_window()
        try:
            await self.client.quit(timeout=min(self.timeout, 2.0))
        except Exception:
            self.client.close()


class SmtpTransport:
    """aiosmtplib with implicit TLS, STARTTLS and authentication as configured."""

    def __init__(self, settings: NotificationsSettings) -> None:
        self.settings = settings
        #: shared by every session this transport opens (see ``_WindowedSMTP``)
        self.window = asyncio.Lock()

    def client(self) -> _WindowedSMTP:
        s = self.settings
        credentials = bool(s.smtp_username)
        start_tls: bool | None = None  # auto: upgrade when the server offers it
        if s.smtp_implicit_tls or s.smtp_starttls == "off":
            start_tls = False
        elif s.smtp_starttls == "required" or credentials:
            start_tls = True  # never send a password in plain text
        context = ssl.create_default_context(cafile=s.smtp_cafile) if s.smtp_cafile else None
        return _WindowedSMTP(
            window=self.window,
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
