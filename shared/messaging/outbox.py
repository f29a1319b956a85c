"""The outbox relay: publishes committed outbox rows to Kafka, then marks them sent.

* One relay per service database publishes at a time: the one whose connection holds the session-level
  advisory lock (the others try again every poll interval and take over when its connection ends). So
  rows go out in id order and messages with the same key keep their order, however many service
  instances run.
* A round, on the leader's own connection: read the unpublished rows in id order, send them, wait for
  every acknowledgement (``acks=all``: the in-sync replicas have them), then mark them published. A
  failure or a crash before the mark publishes them again: delivery is at-least-once, and every
  consumer deduplicates on ``event_id`` through its inbox. (No transaction is held open over the sends:
  with a single leader nothing else reads the rows.)
* The relay wakes on ``NOTIFY outbox`` (sent by the writing transaction at commit) and polls as a
  fallback, so a lost notification only costs the poll interval.
* A broker that is down or refuses a send (no leader, too few in-sync replicas, no authorisation)
  makes the round fail: nothing is marked, the relay lets go of its connection, backs off and sends
  the rows again.
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
from opentelemetry import trace

from shared.observability import metrics, tracing

log = structlog.get_logger(__name__)

_RELAY_LOCK = 0x6F7574626F78  # "outbox": held by the leading relay's connection
#: every wait for a connection is bounded: after a database restart a wait without end could stop the
#: relay for good (its loop retries what fails, not what never returns); the backlog gauge is read on a
#: connection of its own
_ACQUIRE_TIMEOUT_S = 30.0
#: and a round as a whole (a connection, the statement, the sends and their acknowledgements) is
#: bounded too, far above what a round takes, so that whatever else hangs the relay retries
_ROUND_LIMIT_S = 150.0
#: a stop waits this long for a round in progress to mark what it sent
_STOP_WAIT_S = 5.0

Send = Callable[[str, bytes, bytes | None, list[tuple[str, bytes]]], Awaitable[Awaitable[Any]]]
"""``send(topic, value, key, headers)`` enqueues a record and returns its delivery future."""


_READ = """SELECT id, topic, message_key, message_type, value, headers, created_at FROM outbox
    WHERE published_at IS NULL ORDER BY id LIMIT $1"""
_MARK = "UPDATE outbox SET published_at = now() WHERE id = any($1::bigint[])"


class OutboxRelay:
    def __init__(
        self,
        pool: asyncpg.Pool,
        send: Send,
        *,
        batch_size: int = 500,
        poll_s: float = 0.5,
        retention_h: float = 24.0,
        renew_producer: Callable[[BaseException], Awaitable[bool]] | None = None,
    ) -> None:
        self.pool = pool
        self.send = send
        #: told of every failed round; replaces the producer if the failure left it unable to send again
        self.renew_producer = renew_producer
        self.batch_size = batch_size
        self.poll_s = poll_s
        self.retention_h = retention_h
        self._wake = asyncio.Event()
        self._next_report = 0.0
        self._conn: PoolConnectionProxy | None = None
        self._leading = False
        self._round = asyncio.Lock()  # one round at a time on the one connection (a stop's too)
        self._stopping = False

    async def run(self) -> None:
        failures = 0
        purge_every, rounds = 200, 0
        while not self._stopping:
            try:
                self._wake.clear()  # before the round: a commit notified during it wakes the next one at once
                published = await asyncio.wait_for(self.publish_once(), _ROUND_LIMIT_S)
                failures = 0
                rounds += 1
                if rounds % purge_every == 0:
                    await self.purge()
                if published >= self.batch_size:
                    continue
                if self._leading:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), self.poll_s)
                else:  # commits do not concern a relay that waits to lead: it tries again at the poll
                    await asyncio.sleep(self.poll_s)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # broker or database down: back off and try again
                failures += 1
                if self.renew_producer is not None:
                    await self.renew_producer(exc)
                delay = min(5.0, 0.1 * 2 ** min(failures, 6))
                log.warning("outbox_relay_retry", error=repr(exc), retry_in_s=delay)
                await asyncio.sleep(delay)

    async def stop(self) -> None:
        """Let a round in progress finish, then let go of the connection (and with it the lead)."""
        self._stopping = True
        self._wake.set()
        try:
            async with asyncio.timeout(_STOP_WAIT_S), self._round:  # a round stuck on the broker is not waited for
                pass
        except Exception as exc:  # a round stuck: what it sent and did not mark, the next relay sends again
            log.warning("outbox_relay_stop_unfinished", error=repr(exc))
        await self._let_go()

    async def publish_once(self) -> int:
        """Publish one batch of unpublished rows; return how many were published (0 when not leading)."""
        async with self._round:
            if self._stopping:  # a stopped relay holds no connection, and takes none
                return 0
            try:
                published = await self._publish_batch()
            except BaseException:
                await self._let_go()  # what was sent and not marked goes out again: consumers deduplicate
                raise
        await self._maybe_report_backlog()
        return published

    async def _publish_batch(self) -> int:
        conn = await self._connection()
        if not self._leading:
            self._leading = bool(await conn.fetchval("SELECT pg_try_advisory_lock($1)", _RELAY_LOCK))
            if not self._leading:
                return 0
        rows = await conn.fetch(_READ, self.batch_size)
        if not rows:
            return 0
        deliveries = []
        spans = []
        for row in rows:
            key = row["message_key"].encode() if row["message_key"] is not None else None
            stored = row["headers"]
            span = tracing.publishing(row["topic"], row["message_type"], stored,
                                      int(row["created_at"].timestamp() * 1e9)) if tracing.ENABLED else None
            if span is not None:  # the record carries the publish span's context on, not the handler's
                stored = dict(stored)
                tracing.inject(stored, trace.set_span_in_context(span))
                spans.append(span)
            headers = [(k, str(v).encode()) for k, v in stored.items()]
            try:
                deliveries.append(await self.send(row["topic"], row["value"], key, headers))
            except Exception as exc:  # refused before it was even queued (no metadata for the topic)
                metrics.OUTBOX_SEND_FAILURES.labels(row["topic"], type(exc).__name__).inc()
                for delivery in deliveries:  # what was queued goes on; its outcome is not needed
                    if isinstance(delivery, asyncio.Future):
                        delivery.add_done_callback(_retrieve)
                raise
        try:
            outcomes = await asyncio.gather(*deliveries, return_exceptions=True)
        finally:
            for span in spans:
                span.end()
        failed = [r for r in outcomes if isinstance(r, BaseException)]
        for row, outcome in zip(rows, outcomes, strict=True):  # an alert's counter: by topic and by error
            if isinstance(outcome, BaseException):
                metrics.OUTBOX_SEND_FAILURES.labels(row["topic"], type(outcome).__name__).inc()
        if failed:  # every delivery's outcome is retrieved; the batch is sent again
            raise failed[0]
        acked = time.time()
        await conn.execute(_MARK, [row["id"] for row in rows])
        for row in rows:
            metrics.OUTBOX_PUBLISHED.labels(row["topic"]).inc()
            # created_at is the database's clock, the ack this process's: both NTP-synchronised in practice
            metrics.OUTBOX_PUBLISH_LATENCY.labels(row["topic"]).observe(max(0.0, acked - row["created_at"].timestamp()))
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

    async def _connection(self) -> PoolConnectionProxy:
        """The relay's own connection: it listens for commits, holds the lead and runs the rounds."""
        if self._conn is not None and not self._conn.is_closed():
            return self._conn
        await self._let_go()
        conn = self._conn = await self.pool.acquire(timeout=_ACQUIRE_TIMEOUT_S)
        await conn.add_listener("outbox", self._on_notify)
        return conn

    async def _let_go(self) -> None:
        """Give the connection back to the pool closed: that ends the lead (a session lock) for sure."""
        conn, self._conn = self._conn, None
        self._leading = False
        if conn is None:
            return
        with contextlib.suppress(Exception):
            conn.terminate()
        with contextlib.suppress(Exception):
            await self.pool.release(conn, timeout=5)

    def _on_notify(self, *_: Any) -> None:
        self._wake.set()


def _retrieve(delivery: asyncio.Future[Any]) -> None:
    """An abandoned delivery's outcome, taken so that asyncio does not log it as never retrieved."""
    if not delivery.cancelled():
        delivery.exception()
