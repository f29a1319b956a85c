"""What a service publishes, through FastStream: one named publisher per topic, and the relay's send.

Only the outbox relay publishes (a handler stages its events in the outbox), so the one way out of a
service is ``send(topic, value, key, headers)``: it hands the record to the producer and returns the
future of its acknowledgement, which the relay awaits before it marks the row.

An idempotent producer whose batch the broker refused for good (an authorisation failure, say) keeps
that batch's sequence numbers: aiokafka's sender stops on the ``OutOfOrderSequenceNumber`` that
follows, and every later send to the partition fails the same way (the Java client bumps its epoch
instead). ``renew`` replaces the producer after such a failure; the rows it had not delivered are
still in the outbox, and the next round sends them with a new producer id.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Union

import structlog
from aiokafka.errors import (
    InvalidProducerEpoch,
    InvalidProducerIdMapping,
    OutOfOrderSequenceNumber,
    ProducerFenced,
    UnknownProducerId,
)
from faststream.kafka import KafkaBroker

from shared.contract.dlq import DeadLetter
from shared.contract.envelope import Envelope
from shared.contract.topics import Topic
from shared.messaging.broker import build_broker
from shared.messaging.outbox import Send
from shared.settings import KafkaSettings

log = structlog.get_logger(__name__)

#: failures after which the producer cannot send again: its producer id or sequence numbers are spent
PRODUCER_SPENT: tuple[type[BaseException], ...] = (
    OutOfOrderSequenceNumber, UnknownProducerId, InvalidProducerEpoch, InvalidProducerIdMapping, ProducerFenced)

Renew = Callable[[BaseException], Awaitable[bool]]


def envelope_of(messages: Sequence[type]) -> Any:
    """The envelope schema of a topic that carries any of ``messages``."""
    return Envelope[Union[tuple(messages)]]  # type: ignore[misc]  # noqa: UP007


def build_publishing(settings: KafkaSettings, *, client_id: str, publishes: Sequence[Topic],
                     dead_letters: Sequence[str]) -> tuple[KafkaBroker, Send, Renew]:
    """The broker (the producer) with a named publisher per emitted topic and dead-letter topic, ``send``, and
    ``renew(failure)``, which starts a new producer when ``failure`` spent the current one (and says so)."""
    broker = build_broker(settings, client_id=client_id)
    publishers = {
        topic.name: broker.publisher(topic.name, title=topic.name, description=topic.description,
                                     schema=envelope_of(topic.messages))
        for topic in publishes
    }
    for dlq in dead_letters:
        publishers[dlq] = broker.publisher(dlq, title=dlq, schema=DeadLetter, description="Dead letters")

    async def send(topic: str, value: bytes, key: bytes | None, headers: list[tuple[str, bytes]]) -> Any:
        publisher = publishers.get(topic)
        if publisher is None:
            raise KeyError(f"{client_id} has no publisher for {topic}")
        return await publisher.publish(value, key=key, headers={k: v.decode() for k, v in headers},
                                       no_confirm=True)

    spent = False  # a renewal that could not start the new producer is tried again after the next failure

    async def renew(failure: BaseException) -> bool:
        nonlocal spent
        if not (spent or isinstance(failure, PRODUCER_SPENT)):
            return False
        spent = True
        log.warning("producer_renewing", error=repr(failure))
        with contextlib.suppress(Exception):
            await broker.stop()
        try:
            await broker.start()
        except Exception as exc:  # the broker is away too: the relay backs off and fails again
            log.warning("producer_renewal_failed", error=repr(exc))
            return False
        spent = False
        return True

    return broker, send, renew
