"""The outbox relay: publishes committed outbox rows to Kafka, then marks them sent.

* Rows are claimed in id order with ``FOR UPDATE SKIP LOCKED`` inside a transaction
  that also holds a transaction-level advisory lock, so one relay per service database
  publishes at a time and messages with the same key keep their order even with several
  service instances running.
* A row is marked published in the statement that claims it, and the mark is committed only
  after the broker acknowledged it (``acks=all``); a failure or a crash in between rolls it
  back and publishes the row again: delivery is at-least-once, and every consumer
  deduplicates on ``event_id`` through its inbox.
* The relay wakes on ``NOTIFY outbox`` (sent by the writing transaction at commit) and
  polls as a fallback, so a lost notification only costs the poll interval.
* A broker that is down makes a batch fail: nothing is marked, the relay backs off and sends
  it again. A broker that came back without its topics may acknowledge records sent with stale
  metadata (the embedded broker does): with a ``TopicGuard``, a batch is sent only to topics that
  exist and marked only if the broker did not lose its state meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import structlog
from asyncpg.pool import PoolConnectionProxy

from shared.messaging.topics import TopicGuard
from shared.observability import metrics
from shared.persistence.db import DATABASE_DOWN

log = structlog.get_logger(__name__)

_RELAY_LOCK = 0x6F7574626F78  # "outbox"
#: every wait for a connection is bounded: after a database restart a wait without end could stop the
#: relay for good (its loop retries what fails, not what never returns); the backlog gauge is read with
#: no claim connection held
_ACQUIRE_TIMEOUT_S = 30.0
#: and a round as a whole (a connection, the claim, the sends and their acknowledgements, the update) is
#: bounded too, far above what a round takes, so that whatever else hangs the relay retries
_ROUND_LIMIT_S = 150.0

Send = Callable[[str, bytes, bytes | None, list[tuple[str, bytes]]], Awaitable[Awaitable[Any]]]
"""``send(topic, value, key, headers)`` enqueues a record and returns its delivery future."""


def _row_id(row: asyncpg.Record) -> int:
    return int(row["id"])


class OutboxRelay:
    def __init__(
        self,
        pool: asyncpg.Pool,
        send: Send,
        *,
        batch_size: int = 500,
        poll_s: float = 0.5,
        retention_h: float = 24.0,
        guard: TopicGuard | None = None,
    ) -> None:
        self.pool = pool
        self.guard = guard
        self.send = send
        self.batch_size = batch_size
        self.poll_s = poll_s
        self.retention_h = retention_h
        self._wake = asyncio.Event()
        self._next_report = 0.0
        self._listener: PoolConnectionProxy | None = None
        self._stopping = False

    async def run(self) -> None:
        failures = 0
        purge_every, rounds = 200, 0
        while not self._stopping:
            try:
                await self._ensure_listener()
                self._wake.clear()  # before the round: a commit notified during it wakes the next one at once
                published = await asyncio.wait_for(self.publish_once(), _ROUND_LIMIT_S)
                failures = 0
                rounds += 1
                if rounds % purge_every == 0:
                    await self.purge()
                if published >= self.batch_size:
                    continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll_s)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # broker or database down: back off and try again
                failures += 1
                delay = min(5.0, 0.1 * 2 ** min(failures, 6))
                log.warning("outbox_relay_retry", error=repr(exc), retry_in_s=delay)
                await self._drop_listener()
                await asyncio.sleep(delay)

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        await self._drop_listener()

    async def publish_once(self) -> int:
        """Publish one batch of unpublished rows; return how many were published."""
        published = await self._publish_batch()
        await self._maybe_report_backlog()
        return published

    async def _publish_batch(self) -> int:
        async with self.pool.acquire(timeout=_ACQUIRE_TIMEOUT_S) as conn, conn.transaction():
            # the lock is taken by the statement, once (a one-time filter): when another relay holds
            # it, the outbox is not even scanned
            # claimed and marked in one statement; the mark is committed only after the acknowledgements
            # (anything that fails before rolls it back), which saves the round trip of a second update
            claimed = await conn.fetch(
                """UPDATE outbox SET published_at = now()
                   WHERE id IN (SELECT id FROM outbox
                                WHERE published_at IS NULL AND (SELECT pg_try_advisory_xact_lock($2))
                                ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED)
                   RETURNING id, topic, message_key, value, headers""",
                self.batch_size, _RELAY_LOCK,
            )
            if not claimed:
                return 0
            rows = sorted(claimed, key=_row_id)  # RETURNING keeps no order; records go out in id order
            topics = {row["topic"] for row in rows}
            incarnation = await self.guard.before_send(topics) if self.guard is not None else None
            deliveries = []
            for row in rows:
                key = row["message_key"].encode() if row["message_key"] is not None else None
                headers = [(k, str(v).encode()) for k, v in row["headers"].items()]
                deliveries.append(await self.send(row["topic"], row["value"], key, headers))
            outcomes = await asyncio.gather(*deliveries, return_exceptions=True)
            failed = [r for r in outcomes if isinstance(r, BaseException)]
            if failed:  # every delivery's outcome is retrieved; the batch is sent again
                raise failed[0]
            if self.guard is not None:
                await self.guard.after_acks(topics, incarnation)
            for row in rows:
                metrics.OUTBOX_PUBLISHED.labels(row["topic"]).inc()
        return len(rows)

    async def _maybe_report_backlog(self) -> None:
        if time.monotonic() >= self._next_report:  # a gauge: once a second is plenty, not a query per round
            self._next_report = time.monotonic() + 1.0
            await self._report_backlog()

    async def _report_backlog(self) -> None:
        async with self.pool.acquire(timeout=_ACQUIRE_TIMEOUT_S) as conn:
            row = await conn.fetchrow(
                """SELECT count(*) AS n, coalesce(extract(epoch FROM now() - min(created_at)), 0) AS age
                   FROM outbox WHERE published_at IS NULL"""
            )
        assert row is not None  # an aggregate always returns its row
        metrics.OUTBOX_BACKLOG.set(row["n"])
        metrics.OUTBOX_OLDEST_AGE.set(float(row["age"]))

    async def purge(self) -> int:
        """Delete published rows older than the retention (they only serve debugging)."""
        async with self.pool.acquire(timeout=_ACQUIRE_TIMEOUT_S) as conn:
            status = await conn.execute(
                "DELETE FROM outbox WHERE published_at < now() - make_interval(secs => $1)", self.retention_h * 3600
            )
        return int(status.split()[-1])

    async def _ensure_listener(self) -> None:
        if self._listener is not None and not self._listener.is_closed():
            return
        listener = self._listener = await self.pool.acquire(timeout=_ACQUIRE_TIMEOUT_S)
        await listener.add_listener("outbox", self._on_notify)

    async def _drop_listener(self) -> None:
        listener, self._listener = self._listener, None
        if listener is None:
            return
        with contextlib.suppress(*DATABASE_DOWN):
            await listener.remove_listener("outbox", self._on_notify)
        with contextlib.suppress(Exception):
            await self.pool.release(listener, timeout=5)

    def _on_notify(self, *_: Any) -> None:
        self._wake.set()
