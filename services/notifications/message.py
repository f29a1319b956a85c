"""An email as the bytes that go on the wire: a ``multipart/alternative`` MIME message (RFC 2045-2047, 5322)
assembled from a header block made once per process, without the standard library's email package.

Why: ``email.message.EmailMessage`` with ``email.policy.default`` parses every header it is given and
again when it flattens the message; for messages whose headers are ours, ASCII and known in advance that
was most of the sender's CPU per email (figures: docs/scaling.md, "Emails at flash-sale scale"). What a
mail client reads, subject, headers and both bodies, is what the standard library's message said
(``tests/unit/notifications/test_golden.py``). An address the standard library would have to carry in
UTF-8 (SMTPUTF8), or that needs quoting, still takes its path (``build_message``, below).

The same notification always gives the same bytes, its boundary included: a resend is recognisably the
same mail.
"""

from __future__ import annotations

import binascii
import re
from dataclasses import dataclass
from email.headerregistry import BaseHeader, HeaderRegistry
from email.message import EmailMessage
from email.policy import default as standard_policy
from email.utils import format_datetime, parseaddr

from services.notifications.domain import OutgoingEmail, message_id
from services.notifications.rendering import TEMPLATES_LANGUAGE
from services.notifications.settings import NotificationsSettings

CRLF = "\r\n"
#: RFC 5322's line length to keep to (the hard limit is 998)
LINE = 78
#: UTF-8 bytes per encoded word: base64 of 39 bytes is 52 characters, and with ``=?utf-8?b?`` and ``?=``
#: the first word still fits beside ``Subject: `` on a 78-character line
_WORD_BYTES = 39


#: an address the SMTP envelope carries as it is: ASCII, no space, no angle bracket, one ``@``
_PLAIN_ADDRESS = re.compile(r"[!-;=?A-~]+@[!-;=?A-~]+")


def _plain(address: str) -> bool:
    return _PLAIN_ADDRESS.fullmatch(address) is not None


@dataclass(frozen=True, slots=True)
class Wire:
    """What the SMTP client is handed: the envelope and the message. Bytes only when both addresses are plain
    (``_plain``): the client writes them into ``MAIL`` and ``RCPT`` unparsed; otherwise an ``EmailMessage``
    (an address in UTF-8, or one that needs quoting), which aiosmtplib parses and quotes."""

    sender: str
    recipient: str
    message: bytes | EmailMessage


def header(name: str, value: str) -> str:
    """``Name: value`` and its line end: folded at spaces when long, RFC 2047 words when not ASCII."""
    if not value.isascii():
        return f"{name}: {_encoded_words(value)}{CRLF}"
    line = f"{name}: {value}"
    if len(line) <= LINE:
        return line + CRLF
    return _fold(line) + CRLF


def _fold(line: str) -> str:
    """Break before spaces (unfolding only removes the CRLF, so the value reads the same); a word longer
    than a line stays whole."""
    out, current = [], ""
    for word in line.split(" "):
        if current and len(current) + 1 + len(word) > LINE:
            out.append(current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    out.append(current)
    return (CRLF + " ").join(out)


def _encoded_words(value: str) -> str:
    """The whole value as base64 encoded words of whole characters, one per line; a reader joins them
    with nothing between (RFC 2047, 6.2), so the value reads back exactly, spaces included."""
    words: list[str] = []
    chunk: list[str] = []
    size = 0
    for char in value:
        n = len(char.encode())
        if size + n > _WORD_BYTES:
            words.append("".join(chunk))
            chunk, size = [], 0
        chunk.append(char)
        size += n
    words.append("".join(chunk))
    return (CRLF + " ").join(f"=?utf-8?b?{binascii.b2a_base64(w.encode(), newline=False).decode()}?=" for w in words)


def _body(text: str, boundary: str) -> tuple[str, str]:
    """(Content-Transfer-Encoding, the body in CRLF-ended lines): 7bit when the text is ASCII in short
    lines, else quoted-printable (which also keeps a boundary, made with ``=``, out of the body)."""
    crlf = text.replace("\r\n", "\n").replace("\n", CRLF)
    if not crlf.endswith(CRLF):
        crlf += CRLF  # the standard library ends a text part with a line end, so do we
    if crlf.isascii() and boundary not in crlf and all(len(line) <= LINE for line in crlf.split(CRLF)):
        return "7bit", crlf
    return "quoted-printable", binascii.b2a_qp(crlf.encode(), istext=True).decode("ascii")


class MessageBuilder:
    """Builds each email's bytes; what is the same for every email is made once."""

    def __init__(self, settings: NotificationsSettings) -> None:
        self.settings = settings
        self.domain = settings.mail_domain
        self.sender = parseaddr(settings.mail_from)[1]
        self.plain_sender = _plain(self.sender)
        self.from_line = _standard_header("From", settings.mail_from)
        self.tail = (f"Auto-Submitted: auto-generated{CRLF}MIME-Version: 1.0{CRLF}")  # RFC 3834: no auto-replies
        self.language = f"Content-Language: {TEMPLATES_LANGUAGE}{CRLF}"

    def wire(self, email: OutgoingEmail) -> Wire:
        assert email.recipient is not None
        if not (self.plain_sender and _plain(email.recipient)):
            return Wire(self.sender, email.recipient, build_message(email, self.settings))
        return Wire(self.sender, email.recipient, self.message(email))

    def message(self, email: OutgoingEmail) -> bytes:
        """The whole message: headers in the order ``build_message`` sets them, then the parts."""
        assert email.recipient is not None
        head = [self.from_line, header("To", email.recipient), header("Subject", email.subject),
                f"Date: {format_datetime(email.created_at)}{CRLF}",
                header("Message-ID", message_id(email.notification_id, self.domain))]
        # every message about one order threads together in the buyer's mail client; a seller's alerts (R32)
        # thread per SKU
        if email.order_id is not None and email.seller_id is None:
            head.append(header("References", f"<order.{email.order_id}@{self.domain}>"))
        else:
            head.append(header("References", f"<sku.{email.sku_id}.{email.seller_id}@{self.domain}>"))
            head.append(header("X-Sku-Id", email.sku_id or ""))
        if email.order_id is not None:
            head.append(header("X-Order-Id", email.order_id))
        head += [header("X-Notification-Id", email.notification_id), header("X-Notification-Kind", email.kind),
                 self.tail]
        boundary = f"=_{email.notification_id}"
        text_cte, text = _body(email.body_text, boundary)
        if not email.body_html:
            head += [f'Content-Type: text/plain; charset="utf-8"{CRLF}Content-Transfer-Encoding: {text_cte}{CRLF}',
                     self.language, CRLF, text]
            return "".join(head).encode("ascii")
        html_cte, html = _body(email.body_html, boundary)
        head += [
            f'Content-Type: multipart/alternative;{CRLF} boundary="{boundary}"{CRLF}', self.language, CRLF,
            f'--{boundary}{CRLF}Content-Type: text/plain; charset="utf-8"{CRLF}'
            f"Content-Transfer-Encoding: {text_cte}{CRLF}{CRLF}", text,
            f'{CRLF}--{boundary}{CRLF}Content-Type: text/html; charset="utf-8"{CRLF}'
            f"Content-Transfer-Encoding: {html_cte}{CRLF}{CRLF}", html,
            f"{CRLF}--{boundary}--{CRLF}",
        ]
        return "".join(head).encode("ascii")


def _standard_header(name: str, value: str) -> str:
    """A header as the standard library folds it (an address with a display name in any script): made
    once per process, so its cost does not matter."""
    from email.policy import SMTP

    return SMTP.fold(name, value)


# ---------------------------------------------------------------- the standard library's message


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
