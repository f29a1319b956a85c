"""What a dead-letter entry on ``<topic>.dlq`` looks like."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class DeadLetter(BaseModel):
    """A message that could not be decoded, validated or handled, with the reason and its original bytes."""

    original_topic: str
    partition: int
    offset: int
    key: str | None = None
    consumer: str = Field(description="The consumer group that gave up on it")
    reason: str = Field(
        description="Stable code: not_json, invalid_envelope, unknown_type, invalid_payload, handler_failed"
    )
    error: str = Field(description="The decoding, validation or handler error")
    original_b64: str = Field(description="The original message value, base64")
    original_headers: dict[str, str] = {}
    attempts: int = 1
    failed_at: datetime
