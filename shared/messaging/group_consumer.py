"""The service's consumer group: its poll loop, owned on aiokafka's public API.

Why not a FastStream subscriber: the runtime handles a whole batch in one database transaction
with the inbox, and only then may the batch's offsets be committed, explicitly and at most once
an interval (``OffsetCommitter``). FastStream's batch subscriber commits every batch as it acks it,
and offers no hook for either; bending it to do so meant replacing its message class and its poll
function. So the loop is ours, and short; FastStream still builds the producer and the publishers,
and writes the AsyncAPI contract.

The loop: ``getmany`` (which returns as soon as records arrive, or after ``batch_timeout_ms``) →
``handle(records)`` → the records' next offsets noted → a commit when one is due. A batch whose
handling raises (the database is away, or a bug; a bad message never raises, it is dead-lettered)
is read again: each of its partitions is sought back to the batch's first offset there. The runtime
has already waited its backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition

from shared.messaging.broker import aiokafka_security
from shared.messaging.offsets import OffsetCommitter
from shared.observability import metrics
from shared.settings import ServiceSettings

log = structlog.get_logger(__name__)

Records = Sequence[ConsumerRecord[bytes, bytes]]


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, consumer: GroupConsumer) -> None:
        self.owner = consumer

    async def on_partitions_revoked(self, revoked: Any) -> None:
        # what was handled is committed before another member takes the partitions over
        await self.owner.committer.commit_or_log(self.owner.consumer)
        self.owner.forget_lag(revoked)

    async def on_partitions_assigned(self, assigned: Any) -> None:
        log.info("consumer_joined", partitions=len(assigned))
        self.owner.on_joined()


class GroupConsumer:
    def __init__(self, settings: ServiceSettings, topics: Iterable[str], *, group_id: str, client_id: str,
                 handle: Callable[[Records], Awaitable[None]], on_joined: Callable[[], None]) -> None:
        self.settings = settings
        self.topics = sorted(set(topics))
        self.group_id = group_id
        self.client_id = client_id
        self.handle = handle
        self.on_joined = on_joined
        self.committer = OffsetCommitter(settings.consumer_commit_interval_ms / 1000)
        self.consumer: AIOKafkaConsumer | None = None
        self._stopping = False
        self._idle = asyncio.Event()  # set between batches: a stop waits for the batch in hand
        self._idle.set()
        self._next_lag_report = 0.0

    async def start(self) -> None:
        kafka = self.settings.kafka
        consumer = AIOKafkaConsumer(
            bootstrap_servers=kafka.bootstrap_servers,
            client_id=self.client_id,
            group_id=self.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=self.settings.consumer_fetch_max_wait_ms,
            max_poll_records=self.settings.consumer_batch_max,
            session_timeout_ms=kafka.session_timeout_ms,
            heartbeat_interval_ms=kafka.heartbeat_interval_ms,
            metadata_max_age_ms=kafka.metadata_max_age_ms,
            **aiokafka_security(kafka),
        )
        consumer.subscribe(self.topics, listener=_Rebalance(self))
        try:
            await consumer.start()
        except BaseException:
            with contextlib.suppress(Exception):
                await consumer.stop()
            raise
        self.consumer = consumer

    async def run(self) -> None:
        """Poll, handle, note and commit, until ``stop``."""
        assert self.consumer is not None, "start() first"
        consumer = self.consumer
        timeout_ms, max_records = self.settings.consumer_batch_timeout_ms, self.settings.consumer_batch_max
        while not self._stopping:
            batches = await consumer.getmany(timeout_ms=timeout_ms, max_records=max_records)
            records = [record for partition in batches.values() for record in partition]
            if not records or self._stopping:
                continue
            self._idle.clear()
            try:
                await self.handle(records)
            except Exception:  # logged and backed off by the runtime: the batch is read again
                self._read_again(records)
            else:
                self.committer.handled(records)
                await self.committer.maybe_commit(consumer)
            finally:
                self._idle.set()
            await self.report_lag(every_s=1.0)

    async def commit_periodically(self) -> None:
        """What a consumer that went quiet has handled is committed too, an interval later."""
        while True:
            await asyncio.sleep(self.committer.interval_s or 1.0)
            await self.committer.commit_or_log(self.consumer)
            await self.report_lag(every_s=1.0)

    async def report_lag(self, every_s: float = 0.0) -> None:
        """``backorder_consumer_lag_records`` per assigned partition: the high watermark the last fetch saw
        minus the group's position (aiokafka's public ``highwater`` and ``position``). At most once ``every_s``:
        after a batch, and from the periodic commit task, so a consumer that went quiet reports it too."""
        now = asyncio.get_running_loop().time()
        consumer = self.consumer
        if consumer is None or now < self._next_lag_report:
            return
        self._next_lag_report = now + every_s
        try:
            for tp in consumer.assignment():
                high = consumer.highwater(tp)
                if high is None:  # nothing fetched from it yet
                    continue
                position = await asyncio.wait_for(consumer.position(tp), 5)
                metrics.CONSUMER_LAG.labels(self.group_id, tp.topic, str(tp.partition)).set(max(0, high - position))
        except Exception as exc:  # a rebalance in progress: the next report has it
            log.debug("consumer_lag_unknown", error=repr(exc))

    def forget_lag(self, partitions: Iterable[TopicPartition]) -> None:
        """A partition another member took over is reported by that member."""
        for tp in partitions:
            with contextlib.suppress(KeyError):
                metrics.CONSUMER_LAG.remove(self.group_id, tp.topic, str(tp.partition))

    async def stop(self, timeout_s: float = 30.0) -> None:
        """Let the batch in hand finish, commit what was handled, and leave the group."""
        self._stopping = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout_s)
        self.committer.interval_s = 0.0
        await self.committer.commit_or_log(self.consumer)
        if self.consumer is not None:
            await self.consumer.stop()

    def _read_again(self, records: Records) -> None:
        assert self.consumer is not None
        first: dict[TopicPartition, int] = {}
        for record in records:
            tp = TopicPartition(record.topic, record.partition)
            first[tp] = min(first.get(tp, record.offset), record.offset)
        assigned = self.consumer.assignment()
        for tp, offset in first.items():
            if tp in assigned:  # a partition revoked meanwhile is read again by its new owner
                self.consumer.seek(tp, offset)
