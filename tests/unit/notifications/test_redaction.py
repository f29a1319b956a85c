"""Privacy: what the service logs never carries a buyer's email address (the shared structlog processor)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import aiosmtplib
import pytest
import structlog

from services.notifications.mail import classify
from shared.observability.logging import configure_logging

ADDRESS = "jane.doe+orders@mail-provider.example"


@pytest.fixture
def logs() -> Iterator[io.StringIO]:
    """The service's logging configuration, writing to a buffer instead of stderr."""
    buffer = io.StringIO()
    configure_logging("notifications-test", "INFO", "json")
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=buffer))
    handler = logging.getLogger().handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(buffer)
    yield buffer
    structlog.reset_defaults()
    logging.getLogger().handlers.clear()


def lines(buffer: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]


def test_privacy_addresses_are_redacted_in_values_keys_and_tracebacks(logs: io.StringIO) -> None:
    log = structlog.get_logger("services.notifications.sender")
    log.warning("email_attempt_failed", error=f"550 <{ADDRESS}>: no such user", buyer_email=ADDRESS,
                recipient=ADDRESS)
    try:
        raise aiosmtplib.SMTPRecipientsRefused([aiosmtplib.SMTPRecipientRefused(550, "unknown", ADDRESS)])
    except aiosmtplib.SMTPException:
        log.exception("email_send_crashed")
        logging.getLogger("aiosmtplib").error("library says %s", ADDRESS, exc_info=True)
    out = lines(logs)
    assert len(out) == 3
    assert ADDRESS not in json.dumps(out) and "mail-provider.example" not in json.dumps(out)
    assert out[0]["buyer_email"] == "[redacted]" and "[redacted]" in str(out[0]["error"])


def test_privacy_the_errors_the_sender_stores_and_publishes_carry_no_address() -> None:
    refused = aiosmtplib.SMTPRecipientsRefused([aiosmtplib.SMTPRecipientRefused(550, f"<{ADDRESS}> unknown",
                                                                               ADDRESS)])
    assert ADDRESS not in classify(refused).error
    assert ADDRESS not in classify(aiosmtplib.SMTPResponseException(451, f"greylisted {ADDRESS}")).error
