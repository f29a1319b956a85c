"""The envelope every message on every topic travels in.

A message is JSON: the envelope fields below plus a typed ``payload``. The Kafka key
is the aggregate id (seller for catalog, SKU for inventory commands, order for
orders), so every message about one aggregate lands on one partition, in order.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

CONTRACT_VERSION = 1


def utcnow() -> datetime:
    return datetime.now(UTC)


class Payload(BaseModel):
    """Base of every command and event payload: strict about unknown fields and types."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_max_length=500)

    #: the envelope ``type`` this payload travels under (e.g. ``"PlaceOrder"``)
    message_type: ClassVar[str]
    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.message_type = cls.__name__


class Principal(BaseModel):
    """Who is acting. Set by the platform gateway from the authenticated caller."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_max_length=200)

    kind: str = Field(description="`seller`, `buyer`, `operator` or `service`", examples=["seller"])
    id: str = Field(min_length=1, description="the principal's id", examples=["seller-1"])


P = TypeVar("P", bound=BaseModel)


class Envelope(BaseModel, Generic[P]):
    """The JSON document on the wire."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: uuid.UUID = Field(
        default_factory=uuid.uuid4,
        description="Unique id of this message; consumers deduplicate on it.",
        examples=["6f1c2b1e-3f7a-4a8e-9a55-2d8c4d7f0b11"],
    )
    type: str = Field(min_length=1, max_length=100, description="Message type", examples=["PlaceOrder"])
    version: int = Field(default=CONTRACT_VERSION, ge=1, description="Contract version of the payload")
    occurred_at: datetime = Field(default_factory=utcnow, description="When it happened (ISO 8601, UTC)")
    correlation_id: uuid.UUID = Field(
        default_factory=uuid.uuid4, description="Shared by every message of one business flow"
    )
    causation_id: uuid.UUID | None = Field(default=None, description="event_id of the message that caused this one")
    producer: str = Field(min_length=1, max_length=100, description="Service or client that produced it")
    principal: Principal | None = Field(
        default=None, description="The acting principal, for commands (set by the gateway)"
    )
    payload: P


class RawEnvelope(Envelope[dict[str, Any]]):
    """The envelope with its payload not yet validated against a message type."""
