"""What a consumed record becomes: a message for a handler, or a dead letter.

A record is decoded against the contract of its topic. What cannot be decoded (not JSON, a bad
envelope, a ``type`` the topic does not carry, an invalid payload) is marked with the reason, and
the consumer runtime dead-letters it on ``<topic>.dlq`` with the original bytes (``dead_letter``).
A ``Subscription`` says which of a topic's types a consumer group handles, and with what: keyed by
payload class, and checked when the service is built (``Subscription`` itself, and ``wired``), so a type the
topic does not carry, a handler written for another type, or a handler nobody subscribed fails at start-up
instead of skipping messages as another group's.
"""

from __future__ import annotations

import base64
import inspect
import types
import typing
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

import orjson
from aiokafka import ConsumerRecord
from pydantic import ValidationError

from shared.cause import Cause
from shared.contract.dlq import DeadLetter
from shared.contract.envelope import Payload, RawEnvelope, utcnow
from shared.contract.topics import Topic
from shared.contract.upcasting import upcast

#: Set by ``backorder dlq replay``: the consumer group that dead-lettered the message, and the dead
#: letter's offset. That group handles the replay as a new message (its inbox holds the original id,
#: claimed when the message was dead-lettered); every other group still skips it by its event id.
REPLAY_CONSUMER_HEADER = "x-dlq-replay-consumer"
REPLAY_OFFSET_HEADER = "x-dlq-replay-offset"

P = TypeVar("P", bound=Payload)

#: a dead letter keeps at most this much of the original record (a hostile one can be large)
MAX_DLQ_ORIGINAL_BYTES = 256 * 1024


@dataclass(frozen=True)
class Message(Generic[P]):
    """A decoded message: its typed payload and the envelope facts handlers may need."""

    payload: P
    cause: Cause


Handler = Callable[[Any, Any], Awaitable[None]]
"""``async def handler(payload, uow) -> None``"""
BatchHandler = Callable[[list[Message[Any]], Any], Awaitable[None]]
"""``async def handler(messages, uow) -> None``, for work that is cheaper per batch"""


#: a subscription's key: the payload class (a type's name is still taken, and checked the same way)
Key = type[Payload] | str


class WiringError(TypeError):
    """A subscription that cannot be what was meant: found when the service is built."""


@dataclass(frozen=True)
class Subscription:
    """A topic a consumer group reads, and its handler for each type it handles.

    Given keyed by payload class; kept keyed by ``message_type``, what a record names. Every key must be a
    type the topic carries, and a handler whose first parameter is annotated must take that type."""

    topic: Topic
    handlers: Mapping[Key, Handler] = field(default_factory=dict)
    #: types handled a run at a time; types mapped to the same function share their runs. A type may
    #: also have a per-message handler: a run that fails is then retried one message at a time with it
    batch_handlers: Mapping[Key, BatchHandler] = field(default_factory=dict)
    #: where ``CommandRejected`` goes; None for event topics (a rejection there is dead-lettered)
    rejections: Topic | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "handlers", self._by_name(self.handlers, batch=False))
        object.__setattr__(self, "batch_handlers", self._by_name(self.batch_handlers, batch=True))

    def _by_name(self, handlers: Mapping[Key, Any], *, batch: bool) -> dict[Key, Any]:
        by_name: dict[Key, Any] = {}
        for key, handler in handlers.items():
            name = key if isinstance(key, str) else getattr(key, "message_type", "")
            model = self.topic.payload_model(name)
            if model is None or (not isinstance(key, str) and model is not key):
                raise WiringError(f"{self.topic.name} carries no message type {key!r}")
            takes = handler_takes(handler, batch=batch)
            if takes is not None and not issubclass(model, takes):
                raise WiringError(f"{_name(handler)} takes {takes}, not {name}, the key it is subscribed under")
            by_name[name] = handler
        return by_name

    def handles(self, message_type: str) -> bool:
        return message_type in self.handlers or message_type in self.batch_handlers

    def functions(self) -> set[Callable[..., Any]]:
        return {*self.handlers.values(), *self.batch_handlers.values()}


def handler_takes(handler: Callable[..., Any], *, batch: bool) -> tuple[type, ...] | None:
    """The payload classes a handler's first parameter is annotated with (``list[Message[X]]`` for a batch
    handler; a union gives several); None when it is not annotated with payload classes."""
    try:
        hints = typing.get_type_hints(handler)
        first = next(iter(inspect.signature(handler).parameters), None)
    except (NameError, TypeError, ValueError):
        return None
    hint = hints.get(first) if first is not None else None
    if batch:
        item = typing.get_args(hint)[0] if typing.get_origin(hint) is list and typing.get_args(hint) else None
        hint = typing.get_args(item)[0] if typing.get_origin(item) is Message else None
    members = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    payloads = tuple(m for m in members if isinstance(m, type) and issubclass(m, Payload))
    return payloads if payloads and len(payloads) == len(members) else None


def wired(subscriptions: list[Subscription], *modules: types.ModuleType) -> list[Subscription]:
    """``subscriptions``, once every handler ``modules`` define (a public function whose first parameter
    takes payloads) is subscribed somewhere: a handler left out would never run."""
    subscribed = set().union(*(s.functions() for s in subscriptions))
    left_out = sorted(_name(f) for f in _handlers_in(modules) if f not in subscribed)
    if left_out:
        raise WiringError(f"handlers without a subscription: {', '.join(left_out)}")
    return subscriptions


def _handlers_in(modules: Iterable[types.ModuleType]) -> list[Callable[..., Any]]:
    return [value for module in modules for name, value in vars(module).items()
            if inspect.iscoroutinefunction(value) and value.__module__ == module.__name__
            and not name.startswith("_")
            and (handler_takes(value, batch=False) or handler_takes(value, batch=True))]


def _name(handler: Callable[..., Any]) -> str:
    return f"{getattr(handler, '__module__', '?')}.{getattr(handler, '__qualname__', repr(handler))}"


@dataclass
class Inbound:
    """A record as decoded: its inbox id (the event id, else its position), and either the message or
    why it is to be dead-lettered (neither: another group's type, skipped)."""

    record: ConsumerRecord[bytes, bytes]
    subscription: Subscription
    message_id: str
    message: Message[Any] | None = None
    dead_letter: tuple[str, str] | None = None  # (reason, error)

    @property
    def type(self) -> str:
        return self.message.cause.message_type if self.message else ""


def record_key(record: ConsumerRecord[bytes, bytes]) -> str | None:
    """The record's key as text; whatever a hostile producer put there can be stored (no NUL byte)."""
    return record.key.decode("utf-8", "replace").replace("\x00", "\ufffd") if record.key is not None else None


def decode(record: ConsumerRecord[bytes, bytes], subscription: Subscription) -> Inbound:
    """The record checked against its topic's contract, as far as this group needs to read it."""
    topic = subscription.topic
    fallback_id = f"{record.topic}/{record.partition}/{record.offset}"
    inbound = Inbound(record, subscription, fallback_id)
    try:
        data = orjson.loads(record.value) if record.value is not None else None
    except orjson.JSONDecodeError as exc:
        inbound.dead_letter = ("not_json", str(exc))
        return inbound
    if not isinstance(data, dict):
        inbound.dead_letter = ("invalid_envelope", "the message is not a JSON object")
        return inbound
    if _someone_elses(data.get("type"), subscription):
        return inbound  # neither validated nor claimed: the groups that handle it judge it
    try:
        raw = RawEnvelope.model_validate(data)
    except ValidationError as exc:
        inbound.dead_letter = ("invalid_envelope", _errors(exc))
        return inbound
    inbound.message_id = str(raw.event_id)
    model = topic.payload_model(raw.type)
    if model is None:
        inbound.dead_letter = ("unknown_type", f"{topic.name} carries no message type {raw.type!r}")
        return inbound
    try:
        payload = model.model_validate(upcast(raw.type, raw.version, raw.payload, model.contract_version))
    except ValidationError as exc:
        inbound.dead_letter = ("invalid_payload", _errors(exc))
        return inbound
    cause = Cause(raw.event_id, raw.correlation_id, raw.principal, raw.type, raw.occurred_at,
                  _record_time(record))
    inbound.message = Message(payload, cause)
    return inbound


def _someone_elses(message_type: object, subscription: Subscription) -> bool:
    """A type the topic carries that this group has no handler for (an event topic is read by several
    services, each for some of its types): it is skipped unread. Validating it here would only cost
    time (most of a consumer's decoding, on a busy event topic) and dead-letter another service's
    message in every group that reads the topic."""
    return (isinstance(message_type, str) and not subscription.handles(message_type)
            and subscription.topic.payload_model(message_type) is not None)


def _errors(exc: ValidationError) -> str:
    parts = [f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}" for e in exc.errors()[:20]]
    return "; ".join(parts)[:2000]


def dead_letter(record: ConsumerRecord[bytes, bytes], consumer: str, reason: str, error: str, *,
                attempts: int) -> DeadLetter:
    """What ``consumer`` publishes on the topic's ``.dlq`` for a record it cannot handle: why, and the
    original record (its bytes truncated to ``MAX_DLQ_ORIGINAL_BYTES``), so it can be replayed."""
    value = record.value or b""
    return DeadLetter(
        original_topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=record_key(record),
        consumer=consumer,
        reason=reason,
        error=error if len(value) <= MAX_DLQ_ORIGINAL_BYTES else f"{error} (original truncated)",
        original_b64=base64.b64encode(value[:MAX_DLQ_ORIGINAL_BYTES]).decode(),
        original_headers={k: v.decode("utf-8", "replace") for k, v in (record.headers or ())},
        attempts=attempts,
        failed_at=utcnow(),
    )


def _record_time(record: ConsumerRecord[bytes, bytes]) -> datetime | None:
    """The record's timestamp (milliseconds since the epoch), if it has one."""
    return datetime.fromtimestamp(record.timestamp / 1000, UTC) if record.timestamp and record.timestamp > 0 else None


def replay_id(item: Inbound, group_id: str) -> Inbound:
    """A dead letter replayed for ``group_id`` gets an inbox id of its own (once per dead letter)."""
    headers = {k: v for k, v in (item.record.headers or ())}
    if item.message is not None and headers.get(REPLAY_CONSUMER_HEADER, b"").decode("utf-8", "replace") == group_id:
        offset = headers.get(REPLAY_OFFSET_HEADER, b"").decode("utf-8", "replace")
        item.message_id = f"{item.message_id}/replay/{offset}"
    return item
