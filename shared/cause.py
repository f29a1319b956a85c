"""The message a handler runs for: what the messages it emits were caused by.

A plain value, apart from the unit of work that carries it, so that handlers and ports can name it without
knowing how the transaction is run.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from shared.contract.envelope import Principal


@dataclass(frozen=True)
class Cause:
    """The message being handled: what the emitted messages were caused by."""

    event_id: uuid.UUID
    correlation_id: uuid.UUID
    principal: Principal | None = None
    message_type: str = ""
    occurred_at: datetime | None = None
    #: the consumed record's timestamp (its producer's clock): when the message entered Kafka
    received_at: datetime | None = None
