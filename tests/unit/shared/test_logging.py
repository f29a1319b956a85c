"""Buyer PII and secrets never reach a log line (issue 8: logs are grepped after a full run)."""

from __future__ import annotations

import pytest

from shared.observability.logging import REDACTED, redact_pii


@pytest.mark.parametrize(
    "address", ["buyer@example.com", "first.last+tag@shop.co.uk", "jörg@exämple.de", "用户@例子.公司"]
)
def test_email_addresses_are_redacted_anywhere_in_a_log_line(address: str) -> None:
    logged = redact_pii(None, "", {"event": f"mail to {address} failed", "detail": {"to": [address]},
                                   "raw": f"<{address}>".encode()})
    assert address not in str(logged)
    assert logged["event"] == f"mail to {REDACTED} failed"


@pytest.mark.parametrize("key", ["buyer_email", "password", "smtp_password", "database_url", "name", "full_name",
                                 "sasl_password", "api_key", "Authorization"])
def test_sensitive_keys_are_redacted_whatever_their_value(key: str) -> None:
    assert redact_pii(None, "", {key: "s3cr3t-value"})[key] == REDACTED


def test_ids_and_ordinary_fields_are_kept() -> None:
    logged = redact_pii(None, "", {"order_id": "o-1", "buyer_id": "buyer-7", "sku_id": "sku@1", "qty": 3})
    assert logged == {"order_id": "o-1", "buyer_id": "buyer-7", "sku_id": "sku@1", "qty": 3}
