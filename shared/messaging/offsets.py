"""Kafka offset commits, at most one per interval instead of one per batch.

A batch's offsets are committed only after its transaction committed (the inbox holds its message
ids by then), so committing them later, or not at all before a crash, can only make a consumer read
again what its inbox already skips: the effects stay exactly once. What it saves is a broker request
per batch per consumer group, each answered by the broker and handled by the client. Under a moderate
load batches hold few messages, so those requests add up to a sizeable part of the services' broker
traffic (figures in docs/scaling.md, "Figures behind the code's choices").

* ``handled`` notes a handled batch's next offsets, per partition; ``maybe_commit`` commits what is
  noted when the interval has passed since the last commit;
* ``commit`` commits what is noted at once: the service calls it on a timer (so that a consumer that
  went quiet commits its last batches too), when partitions are revoked and when it stops;
* offsets are committed explicitly, never "the consumer's positions": those run ahead of the
  handled records while a batch is being handled;
* only partitions still assigned are committed (a commit for another member's partition fails).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from typing import Any

import structlog
from aiokafka import ConsumerRecord, TopicPartition

log = structlog.get_logger(__name__)


class OffsetCommitter:
    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self.pending: dict[TopicPartition, int] = {}
        # the first commit is due at once: monotonic time starts anywhere (at boot, on Linux), and a
        # machine up for less than an interval would otherwise hold it back
        self._last_commit = -math.inf

    def handled(self, records: Iterable[ConsumerRecord[Any, Any]]) -> None:
        pending = self.pending
        for record in records:
            tp = TopicPartition(record.topic, record.partition)
            if record.offset + 1 > pending.get(tp, -1):
                pending[tp] = record.offset + 1

    async def maybe_commit(self, consumer: Any) -> None:
        if time.monotonic() - self._last_commit >= self.interval_s:
            await self.commit_or_log(consumer)

    async def commit_or_log(self, consumer: Any) -> None:
        """``commit``, a failure logged, not raised: what failed goes with the next commit, and until then
        the inbox makes a re-read harmless."""
        try:
            await self.commit(consumer)
        except Exception as exc:
            log.warning("offset_commit_failed", error=repr(exc))

    async def commit(self, consumer: Any) -> None:
        """Commit what is noted, for the partitions still assigned. A commit that fails is noted again
        (merged with what came since) and tried with the next one."""
        self._last_commit = time.monotonic()
        if not self.pending or consumer is None:
            return
        noted, self.pending = self.pending, {}
        assigned = consumer.assignment()
        offsets = {tp: offset for tp, offset in noted.items() if tp in assigned}
        if not offsets:
            return
        try:
            await consumer.commit(offsets)
        except Exception:
            for tp, offset in offsets.items():
                if offset > self.pending.get(tp, -1):
                    self.pending[tp] = offset
            raise
