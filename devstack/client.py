"""A Kafka client for tests, the demo and the CLI: publish commands, observe events.

It talks to the platform the way any other platform service would: envelopes on the
command topics, and a consumer (no group, from the beginning) on the event topics.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import RecordMetadata

from shared.contract.envelope import Envelope, Payload, Principal
from shared.contract.topics import command_topic_of
from shared.messaging.broker import aiokafka_security
from shared.messaging.topics import partitions_of
from shared.settings import KafkaSettings


@dataclass(frozen=True)
class Observed:
    topic: str
    partition: int
    offset: int
    key: str | None
    value: dict[str, Any]
    received_at: float

    @property
    def type(self) -> str:
        return str(self.value.get("type", ""))

    @property
    def payload(self) -> dict[str, Any]:
        return dict(self.value.get("payload") or {})


class PlatformClient:
    def __init__(self, bootstrap: str, topics: Iterable[str], producer_name: str = "test-client",
                 settings: KafkaSettings | None = None) -> None:
        """``settings``: the transport security to use (a SASL_SSL broker's user), else PLAINTEXT."""
        self.bootstrap = bootstrap
        self.settings = settings or KafkaSettings(bootstrap_servers=bootstrap)
        self._security = aiokafka_security(self.settings)
        self.topics = list(topics)
        self.producer_name = producer_name
        self.observed: list[Observed] = []
        self._producer: AIOKafkaProducer | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._changed = asyncio.Condition()

    async def start(self) -> PlatformClient:
        self._producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all", linger_ms=2, **self._security)
        await self._producer.start()
        if self.topics:
            self._consumer = AIOKafkaConsumer(
                bootstrap_servers=self.bootstrap, enable_auto_commit=False, auto_offset_reset="earliest",
                fetch_max_wait_ms=50, **self._security,
            )
            await self._consumer.start()
            partitions = []
            for topic in self.topics:
                for p in await self._wait_partitions(topic):
                    partitions.append(TopicPartition(topic, p))
            self._consumer.assign(partitions)
            await self._consumer.seek_to_beginning(*partitions)
            self._task = asyncio.create_task(self._consume())
        return self

    async def _wait_partitions(self, topic: str) -> set[int]:
        for _ in range(100):
            found = await partitions_of(self.settings, topic)
            if found:
                return set(found)
            await asyncio.sleep(0.1)  # the services may provision it a moment later
        raise TimeoutError(f"topic {topic} never appeared")

    async def stop(self) -> None:
        """Stop consuming and producing; works with the broker gone too (a fault test may have crashed it)."""
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        for part in (self._consumer, self._producer):
            if part is not None:
                try:
                    await asyncio.wait_for(part.stop(), 10)
                except asyncio.CancelledError:
                    # aiokafka's consumer lets its fetcher's cancellation out when the broker is gone
                    task = asyncio.current_task()
                    if task is not None and task.cancelling():
                        raise
                except Exception:  # the broker is gone: nothing left to close cleanly
                    pass

    async def _consume(self) -> None:
        assert self._consumer is not None
        while True:
            batches = await self._consumer.getmany(timeout_ms=200, max_records=2000)
            if not batches:
                continue
            now = time.monotonic()
            async with self._changed:
                for records in batches.values():
                    for r in records:
                        try:
                            value = orjson.loads(r.value) if r.value else {}
                        except orjson.JSONDecodeError:
                            value = {"type": "<not json>", "raw": r.value}
                        if not isinstance(value, dict):
                            value = {"type": "<not an object>", "raw": r.value}
                        key = r.key.decode("utf-8", "replace") if r.key else None  # any bytes, hostile too
                        self.observed.append(Observed(r.topic, r.partition, r.offset, key, value, now))
                self._changed.notify_all()

    # ------------------------------------------------------------------ publish

    def envelope(self, payload: Payload, *, correlation_id: uuid.UUID | None = None,
                 principal: Principal | None = None) -> Envelope[Any]:
        return Envelope(type=payload.message_type, producer=self.producer_name,
                        correlation_id=correlation_id or uuid.uuid4(), principal=principal, payload=payload)

    async def send(self, payload: Payload, *, key: str | None = None, principal: Principal | None = None,
                   correlation_id: uuid.UUID | None = None) -> Envelope[Any]:
        """Publish a command on its topic, keyed by its aggregate id; return its envelope."""
        topic = command_topic_of(payload.message_type)
        envelope = self.envelope(payload, correlation_id=correlation_id, principal=principal)
        await self.send_raw(topic.name, envelope.model_dump_json().encode(), key=key or topic.key_of(payload))
        return envelope

    async def send_raw(self, topic: str, value: bytes, *, key: str | bytes | None = None,
                       headers: list[tuple[str, bytes]] | None = None) -> RecordMetadata:
        """Publish any bytes (a fault test's hostile input too); return where the record landed."""
        assert self._producer is not None
        raw_key = key.encode() if isinstance(key, str) else key
        return await self._producer.send_and_wait(topic, value, key=raw_key, headers=headers)

    # ------------------------------------------------------------------ observe

    def matching(self, predicate: Callable[[Observed], bool]) -> list[Observed]:
        return [o for o in self.observed if predicate(o)]

    async def wait_for(self, predicate: Callable[[Observed], bool], *, count: int = 1,
                       timeout: float = 30.0) -> list[Observed]:
        deadline = time.monotonic() + timeout
        async with self._changed:
            while True:
                found = self.matching(predicate)
                if len(found) >= count:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"saw {len(found)} of {count} expected messages after {timeout}s")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), remaining)

    async def wait_type(self, topic: str, message_type: str, timeout: float = 30.0, count: int = 1,
                        **payload_fields: Any) -> list[Observed]:
        def predicate(o: Observed) -> bool:
            return (o.topic == topic and o.type == message_type
                    and all(o.payload.get(k) == v for k, v in payload_fields.items()))

        return await self.wait_for(predicate, count=count, timeout=timeout)

    def caused_by(self, envelope: Envelope[Any]) -> list[Observed]:
        return [o for o in self.observed if o.value.get("causation_id") == str(envelope.event_id)]

    async def wait_caused_by(self, envelope: Envelope[Any], timeout: float = 30.0) -> Observed:
        found = await self.wait_for(lambda o: o.value.get("causation_id") == str(envelope.event_id),
                                    timeout=timeout)
        return found[0]
