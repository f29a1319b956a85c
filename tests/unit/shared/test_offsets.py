"""Offsets are committed explicitly, late and never ahead of what was handled: a re-read is the worst case,
and the inbox makes it harmless (at-least-once delivery, exactly-once effects)."""

from __future__ import annotations

import pytest
from aiokafka import ConsumerRecord, TopicPartition

from shared.messaging import offsets
from shared.messaging.offsets import OffsetCommitter

A, B = TopicPartition("orders.events", 0), TopicPartition("orders.events", 1)


def record(tp: TopicPartition, offset: int) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(tp.topic, tp.partition, offset, 0, 0, None, b"{}", None, 0, 2, [])


class FakeConsumer:
    def __init__(self, assigned: set[TopicPartition]) -> None:
        self.assigned = assigned
        self.commits: list[dict[TopicPartition, int]] = []
        self.fail = False

    def assignment(self) -> set[TopicPartition]:
        return self.assigned

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        if self.fail:
            raise ConnectionError("the coordinator went away")
        self.commits.append(dict(offsets))


async def test_handled_offsets_are_committed_explicitly_as_the_next_to_read_per_partition() -> None:
    consumer, committer = FakeConsumer({A, B}), OffsetCommitter(interval_s=0)
    committer.handled([record(A, 7), record(B, 3), record(A, 9), record(A, 8)])
    await committer.maybe_commit(consumer)
    assert consumer.commits == [{A: 10, B: 4}]


async def test_commits_come_at_most_once_an_interval_and_the_last_ones_are_not_lost() -> None:
    consumer, committer = FakeConsumer({A}), OffsetCommitter(interval_s=3600)
    committer.handled([record(A, 0)])
    await committer.maybe_commit(consumer)  # the first is due at once
    committer.handled([record(A, 1)])
    await committer.maybe_commit(consumer)  # the next waits for the interval ...
    assert consumer.commits == [{A: 1}]
    await committer.commit_or_log(consumer)  # ... or for the timer, a revoke or the stop
    assert consumer.commits == [{A: 1}, {A: 2}]


async def test_the_first_commit_is_due_at_once_on_a_machine_up_for_less_than_an_interval(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(offsets.time, "monotonic", lambda: 5.0)  # booted 5 s ago (CI's fresh machines)
    consumer, committer = FakeConsumer({A}), OffsetCommitter(interval_s=3600)
    committer.handled([record(A, 0)])
    await committer.maybe_commit(consumer)
    assert consumer.commits == [{A: 1}]


async def test_a_revoked_partition_is_not_committed_and_a_failed_commit_goes_with_the_next() -> None:
    consumer, committer = FakeConsumer({A}), OffsetCommitter(interval_s=0)
    committer.handled([record(A, 4), record(B, 5)])
    consumer.fail = True
    await committer.maybe_commit(consumer)  # logged, not raised: the batch was handled all the same
    assert consumer.commits == [] and committer.pending == {A: 5}
    consumer.fail = False
    committer.handled([record(A, 5)])
    await committer.maybe_commit(consumer)
    assert consumer.commits == [{A: 6}]
    assert committer.pending == {}
