"""The email as sent: deterministic headers, both parts, any subject read back exactly; SMTP errors sorted
and scrubbed (privacy)."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from unittest.mock import patch

import aiosmtplib
import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.notifications import message as mime
from services.notifications.domain import OutgoingEmail, notification_id
from services.notifications.mail import SmtpTransport, classify, scrub
from services.notifications.message import MessageBuilder, build_message
from services.notifications.settings import NotificationsSettings

NID = notification_id("o-1", ["l1"], "backorder_accepted", "1", "email")


def outgoing(**changes: object) -> OutgoingEmail:
    values: dict[str, object] = dict(
        notification_id=NID, order_id="o-1", buyer_id="buyer-1", kind="backorder_accepted", line_ids=("l1",),
        locale="de_DE",
        recipient="jane.doe@mail-provider.example", subject="On back order: Freitag, 4. Dezember 2026",
        body_text="Ship by: Freitag, 4. Dezember 2026\n", body_html="<p>Ship by 4. Dezember</p>",
        ship_by=None, estimated_delivery=None, attempts=1, caused_by=uuid.uuid4(), correlation_id=uuid.uuid4(),
        created_at=datetime(2026, 11, 23, 10, 0, tzinfo=UTC),
    )
    values.update(changes)
    return OutgoingEmail(**values)  # type: ignore[arg-type]


def read(email: OutgoingEmail, settings: NotificationsSettings | None = None) -> EmailMessage:
    """The message as the sender sends it, read back as a mail client reads it."""
    wire = MessageBuilder(settings or NotificationsSettings()).wire(email).message
    assert isinstance(wire, bytes)
    parsed = message_from_bytes(wire, policy=policy.default)
    assert isinstance(parsed, EmailMessage) and parsed.defects == []
    return parsed


def test_the_same_notification_gives_the_same_message_id_and_order_header() -> None:
    settings = NotificationsSettings(mail_domain="mail.shop.example")
    first, again = read(outgoing(), settings), read(outgoing(attempts=3), settings)
    assert first["Message-ID"] == again["Message-ID"] == f"<{NID}@mail.shop.example>"
    assert first["X-Order-Id"] == "o-1" and first["X-Notification-Id"] == NID
    assert first["Date"] == again["Date"] == "Mon, 23 Nov 2026 10:00:00 +0000"
    assert first["To"] == "jane.doe@mail-provider.example"
    assert first["Auto-Submitted"] == "auto-generated" and first["Content-Language"] == "en"
    assert first["References"] == "<order.o-1@mail.shop.example>"


def test_the_same_notification_gives_the_same_bytes() -> None:
    builder = MessageBuilder(NotificationsSettings())
    assert builder.wire(outgoing()).message == builder.wire(outgoing(attempts=3)).message


def test_an_email_has_a_text_and_an_html_part_that_survive_the_wire() -> None:
    parsed = read(outgoing())
    assert parsed.get_content_type() == "multipart/alternative"
    assert "Freitag, 4. Dezember 2026" in parsed.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "4. Dezember" in parsed.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert parsed["Subject"] == "On back order: Freitag, 4. Dezember 2026"


@given(st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), min_size=1, max_size=300)
       .map(lambda s: " ".join(s.split())).filter(bool))
def test_any_subject_reads_back_exactly_in_lines_of_at_most_78(subject: str) -> None:
    wire = MessageBuilder(NotificationsSettings()).wire(outgoing(subject=subject)).message
    assert isinstance(wire, bytes)
    assert str(message_from_bytes(wire, policy=policy.default)["Subject"]) == subject
    head = wire.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    # only a word longer than a line, in ASCII, may not be broken
    assert [line for line in head if len(line) > 78 and (b" " in line.strip() or b"=?" in line)] == []


def test_a_line_too_long_for_7bit_or_a_non_ascii_body_goes_quoted_printable() -> None:
    long_line = "x" * 120 + "\n"
    parsed = read(outgoing(body_text=long_line, body_html="<p>Grüße</p>"))
    text, html = parsed.get_body(("plain",)), parsed.get_body(("html",))
    assert text is not None and html is not None
    assert text["Content-Transfer-Encoding"] == html["Content-Transfer-Encoding"] == "quoted-printable"
    assert text.get_content() == long_line.replace("\n", "\r\n") and "Grüße" in html.get_content()


def test_an_email_without_html_is_one_text_part() -> None:
    parsed = read(outgoing(body_html=None))
    assert parsed.get_content_type() == "text/plain" and parsed["Content-Language"] == "en"
    assert parsed.get_content() == "Ship by: Freitag, 4. Dezember 2026\r\n"


@pytest.mark.parametrize("recipient", ["jürgen@mail-provider.example", "a<b@mail-provider.example",
                                       "a>b@mail-provider.example"])
def test_an_address_that_needs_utf8_or_quoting_takes_the_standard_librarys_message(recipient: str) -> None:
    wire = MessageBuilder(NotificationsSettings()).wire(outgoing(recipient=recipient))
    assert isinstance(wire.message, EmailMessage) and wire.recipient == recipient
    assert wire.sender == "no-reply@shop.example"


def test_plain_addresses_go_as_bytes_into_the_envelope_unparsed() -> None:
    wire = MessageBuilder(NotificationsSettings()).wire(outgoing(recipient="o'brien+tag@mail-provider.example"))
    assert isinstance(wire.message, bytes)
    assert (wire.sender, wire.recipient) == ("no-reply@shop.example", "o'brien+tag@mail-provider.example")


def test_email_built_with_header_classes_made_once_is_the_standard_email_byte_for_byte() -> None:
    def wire(policy_: object) -> bytes:
        with patch.object(mime, "POLICY", policy_):
            message = build_message(outgoing(subject="Auf Rückstand: Freitag, 4. Dezember 2026"),
                                    NotificationsSettings())
        return re.sub(rb"=+\d+==", b"BOUNDARY", message.as_bytes())  # a MIME boundary is random

    assert wire(mime.POLICY) == wire(policy.default)
    assert b"Subject: Auf =?utf-8?q?R=C3=BCckstand" in wire(mime.POLICY)  # encoded as the standard one does


@pytest.mark.parametrize(("exc", "permanent", "connection_lost"), [
    (aiosmtplib.SMTPRecipientsRefused([aiosmtplib.SMTPRecipientRefused(550, "no such user", "a@b.example")]),
     True, False),
    (aiosmtplib.SMTPRecipientsRefused([aiosmtplib.SMTPRecipientRefused(451, "try later", "a@b.example")]),
     False, False),
    (aiosmtplib.SMTPDataError(554, "rejected"), True, False),
    (aiosmtplib.SMTPResponseException(421, "closing"), False, True),
    (aiosmtplib.SMTPResponseException(451, "try later"), False, False),
    (aiosmtplib.SMTPServerDisconnected("gone"), False, True),
    (aiosmtplib.SMTPReadTimeoutError("slow"), False, True),
    (ConnectionResetError("reset"), False, True),
])
def test_smtp_errors_are_sorted_into_retry_or_give_up(exc: BaseException, permanent: bool,
                                                          connection_lost: bool) -> None:
    error = classify(exc)
    assert (error.permanent, error.connection_lost) == (permanent, connection_lost)
    assert "a@b.example" not in error.error


def test_scrub_removes_addresses_from_errors() -> None:
    assert scrub("550 5.1.1 <jane.doe@mail-provider.example>: user unknown") == (
        "550 5.1.1 <[redacted]>: user unknown")


@pytest.mark.parametrize(("config", "start_tls", "use_tls"), [
    ({}, None, False),
    ({"smtp_starttls": "required"}, True, False),
    ({"smtp_username": "mailer", "smtp_password": "secret"}, True, False),
    ({"smtp_username": "mailer", "smtp_starttls": "off"}, False, False),
    ({"smtp_implicit_tls": True, "smtp_port": 465}, False, True),
])
def test_starttls_and_auth_follow_the_settings(config: dict[str, object], start_tls: bool | None,
                                               use_tls: bool) -> None:
    client = SmtpTransport(NotificationsSettings(**config)).client()  # type: ignore[arg-type]
    assert client._start_tls_on_connect is start_tls
    assert client.use_tls is use_tls
    if "smtp_password" in config:
        assert client._login_password == "secret"
