"""The envelope every message on every topic travels in.

A message is JSON: the envelope fields below plus a typed ``payload``. The Kafka key
is the aggregate id (seller for catalog, SKU for inventory commands, order for
orders), so every message about one aggregate lands on one partition, in order.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)

from .upcasting import downcast, emitted_version

CONTRACT_VERSION = 1


def utcnow() -> datetime:
    return datetime.now(UTC)


# Control characters (but tab and line breaks), DEL, C1 controls and lone surrogates: PostgreSQL
# cannot store a NUL in text, a lone surrogate is not UTF-8, and escape sequences have no business
# in a title or a tracking number that end up in terminals and emails.
_FORBIDDEN_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def _check_text(value: Any) -> Any:
    if isinstance(value, str):
        found = _FORBIDDEN_CHARACTERS.search(value)
        if found:
            raise ValueError(f"control character U+{ord(found.group()):04X} at position {found.start()}")
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            _check_text(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key)
            _check_text(item)
    return value


class Payload(BaseModel):
    """Base of every command and event payload: strict about unknown fields and types, and no string
    anywhere in it carries a control character (a NUL byte never reaches PostgreSQL)."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_max_length=500)

    #: the envelope ``type`` this payload travels under (e.g. ``"PlaceOrder"``)
    message_type: ClassVar[str]
    #: the version of this shape; an older one is upcast before validation, and a producer may still send an
    #: older one for a release (upcasting.py)
    contract_version: ClassVar[int] = CONTRACT_VERSION

    @field_validator("*", mode="after")
    @classmethod
    def _no_control_characters(cls, value: Any) -> Any:
        return _check_text(value)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.message_type = cls.__name__


class Principal(BaseModel):
    """Who is acting. Set by the platform gateway from the authenticated caller."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_max_length=200)

    kind: str = Field(description="`seller`, `buyer`, `operator` or `service`", examples=["seller"])
    id: str = Field(min_length=1, description="the principal's id", examples=["seller-1"])

    @field_validator("kind", "id", mode="after")
    @classmethod
    def _no_control_characters(cls, value: str) -> str:
        return _check_text(value)  # type: ignore[no-any-return]


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

    @field_validator("type", "producer", mode="after")
    @classmethod
    def _no_control_characters(cls, value: str) -> str:
        return _check_text(value)  # type: ignore[no-any-return]

    @model_validator(mode="before")
    @classmethod
    def _version_of_the_payload(cls, data: Any) -> Any:
        """An envelope built around a payload says the version this release sends it in (the payload's own,
        or the older one the last release's consumers read: ``upcasting.EMITTED``) unless told otherwise."""
        if isinstance(data, dict) and "version" not in data and isinstance(data.get("payload"), Payload):
            payload = data["payload"]
            return {**data, "version": emitted_version(payload.message_type, payload.contract_version)}
        return data

    @model_serializer(mode="wrap")
    def _payload_in_its_version(self, handler: SerializerFunctionWrapHandler) -> Any:
        """The payload in the shape the envelope's ``version`` says: stepped down when that is older."""
        data = handler(self)
        payload = self.payload
        if isinstance(payload, Payload) and self.version < payload.contract_version and isinstance(data, dict):
            data["payload"] = downcast(payload.message_type, payload.contract_version, data["payload"], self.version)
        return data


class RawEnvelope(Envelope[dict[str, Any]]):  # type: ignore[type-var]  # a payload not validated yet: a dict
    """The envelope with its payload not yet validated against a message type."""
