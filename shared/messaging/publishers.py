"""What a service publishes, through FastStream: one named publisher per topic, and the relay's send.

Only the outbox relay publishes (a handler stages its events in the outbox), so the one way out of a
service is ``send(topic, value, key, headers)``: it hands the record to the producer and returns the
future of its acknowledgement, which the relay awaits before it marks the row.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Union

from faststream.kafka import KafkaBroker

from shared.contract.dlq import DeadLetter
from shared.contract.envelope import Envelope
from shared.contract.topics import Topic
from shared.messaging.broker import build_broker
from shared.messaging.outbox import Send
from shared.settings import KafkaSettings


def envelope_of(messages: Sequence[type]) -> Any:
    """The envelope schema of a topic that carries any of ``messages``."""
    return Envelope[Union[tuple(messages)]]  # type: ignore[misc]  # noqa: UP007


def build_publishing(settings: KafkaSettings, *, client_id: str, publishes: Sequence[Topic],
                     dead_letters: Sequence[str]) -> tuple[KafkaBroker, Send]:
    """The broker (the producer) with a named publisher per emitted topic and dead-letter topic, and ``send``."""
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

    return broker, send
