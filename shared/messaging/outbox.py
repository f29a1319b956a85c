"""The outbox relay: publishes committed outbox rows to Kafka, then marks them sent.

* One relay per service database publishes at a time: the one whose connection holds the session-level
  advisory lock (the others try again every poll interval and take over when its connection ends). So
  rows go out in id order and messages with the same key keep their order, however many service
  instances run.
* A round: send the rows in id order, wait for every acknowledgement (``acks=all``: the in-sync
  replicas have them), and only then count them published. A failure or a crash before they are
  marked publishes them again: delivery is at-least-once, and every consumer deduplicates on
  ``event_id`` through its inbox. (No transaction is held open over the sends: with a single leader
  nothing else reads the rows.)
* Where the rows come from costs no round trip on the hot path: the consumer runtime of the same
  process hands the leading relay the rows its transaction just committed (``settle``), and the relay
  sends them without reading them back. The table is read (a sweep) when the relay takes the lead,
  after a failure, when another process wrote (``NOTIFY outbox`` carries the writer's token; the
  writing transaction sends it at commit), and every ``sweep_s`` as a fallback.
* Marking costs none either: the ids of published rows go into the next transaction of the same
  process's consumer, which marks them in the statement that writes its own outbox rows
  (``take_marks``). When no transaction comes within ``mark_after_s`` the relay marks them itself, and
  ``publish_once`` (a stop, the tests) marks at once. A crash in between publishes them again, as a
  crash between the acknowledgement and the mark always did.
* A broker that is down or refuses a send (no leader, too few in-sync replicas, no authorisation)
  makes the round fail: nothing is marked, the relay lets go of its connection, backs off and sends
  the rows again.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import structlog
from asyncpg.pool import PoolConnectionProxy
from opentelemetry import trace

from shared.observability import metrics, tracing
from shared.persistence.uow import OutboxRecord

log = structlog.get_logger(__name__)

_RELAY_LOCK = 0x6F7574626F78  # "outbox": held by the leading relay's connection
#: every wait for a connection is bounded: after a database restart a wait without end could stop the
#: relay for good (its loop retries what fails, not what never returns); the backlog gauge is read on a
#: connection of its own
_ACQUIRE_TIMEOUT_S = 30.0
#: and a round as a whole (a connection, the statement, the sends and their acknowledgements) is
#: bounded too, far above what a round takes, so that whatever else hangs the relay retries
_ROUND_LIMIT_S = 150.0
#: how many acknowledged ids a relay remembers: many rounds' worth, far more than the few rows that can
#: be committed and not yet handed over while a sweep reads the table
_SENT_KEPT = 20_000
#: a stop waits this long for a round in progress to mark what it sent
_STOP_WAIT_S = 5.0

Send = Callable[[str, bytes, bytes | None, list[tuple[str, bytes]]], Awaitable[Awaitable[Any]]]
"""``send(topic, value, key, headers)`` enqueues a record and returns its delivery future."""


#: the unpublished rows, but those published already whose mark is pending ($2)
_READ = """SELECT id, topic, message_key, message_type, value, headers, created_at FROM outbox
    WHERE published_at IS NULL AND NOT (id = any($2::bigint[])) ORDER BY id LIMIT $1"""
_MARK = "UPDATE outbox SET published_at = now() WHERE id = any($1::bigint[])"


@dataclass(frozen=True)
class Row:
    """An outbox row to publish: read from the table, or handed over by the transaction that wrote it."""

    id: int
    topic: str
    key: str | None
    message_type: str
    value: bytes
    headers: dict[str, str]
    #: epoch seconds: the database's ``created_at``, or the hand-over for a row handed over
    created_at: float

    @classmethod
    def read(cls, record: asyncpg.Record) -> Row:
        return cls(record["id"], record["topic"], record["message_key"], record["message_type"], record["value"],
                   record["headers"], record["created_at"].timestamp())

    @classmethod
    def written(cls, outbox_id: int, record: OutboxRecord, at: float) -> Row:
        return cls(outbox_id, record.topic, record.key, record.message_type, record.value, record.headers, at)


class OutboxRelay:
    def __init__(
        self,
        pool: asyncpg.Pool,
        send: Send,
        *,
        batch_size: int = 500,
        poll_s: float = 0.5,
        sweep_s: float = 5.0,
        mark_after_s: float = 1.0,
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
        #: this process's writers name it in their notifications: the relay has their rows in hand
        self.token = uuid.uuid4().hex
        self.sweep_s = sweep_s
        self.mark_after_s = mark_after_s
        self._sweep = True  # the table must be read before anything else is sent
        self._next_sweep = 0.0
        self._handed: list[Row] = []
        #: published, not marked yet; and those a transaction in progress is marking
        self._unmarked: list[int] = []
        self._marking: set[int] = set()
        self._mark_due = 0.0
        #: the ids this relay saw acknowledged lately, oldest first: a row can reach a round twice, swept
        #: from the table between its transaction's commit and its hand-over, and must go out once
        self._sent: dict[int, None] = {}

    async def run(self) -> None:
        failures = 0
        purge_every, rounds = 200, 0
        while not self._stopping:
            try:
                self._wake.clear()  # before the round: a commit notified during it wakes the next one at once
                published = await asyncio.wait_for(self.publish_once(sweep=False, mark=False), _ROUND_LIMIT_S)
                failures = 0
                rounds += 1
                if rounds % purge_every == 0:
                    await self.purge()
                if published >= self.batch_size or self._handed:
                    continue
                if not self._leading:  # commits do not concern a relay that waits to lead: it tries again at the poll
                    await asyncio.sleep(self.poll_s)
                    continue
                await self._mark_if_due()
                now = time.monotonic()
                wait = max(0.0, min(self._next_sweep, self._mark_due if self._unmarked else self._next_sweep) - now)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), wait)
                if time.monotonic() >= self._next_sweep:
                    self._sweep = True  # the fallback: a notification lost with its connection costs this long
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
        """Let a round in progress finish, mark what was published, then let go of the connection (and with it
        the lead)."""
        self._stopping = True
        self._wake.set()
        try:
            async with asyncio.timeout(_STOP_WAIT_S), self._round:  # a round stuck on the broker is not waited for
                await self._mark_published()
        except Exception as exc:  # a round stuck: what it sent and did not mark, the next relay sends again
            log.warning("outbox_relay_stop_unfinished", error=repr(exc))
        await self._let_go()

    # ------------------------------------------------------------ the consumer runtime's side

    def take_marks(self) -> list[int]:
        """Published rows for the caller's transaction to mark; it must ``settle`` them, committed or not."""
        ids, self._unmarked = self._unmarked, []
        self._marking.update(ids)
        return ids

    def settle(self, taken: list[int], marked: list[int], written: list[tuple[int, OutboxRecord]]) -> None:
        """A transaction ended: of the ids it ``took``, those it ``marked`` are done (it committed) and the rest
        are the relay's again; the rows it ``wrote`` (committed) are sent without being read back, when this
        relay leads (another leader reads them, told by the notification)."""
        self._marking.difference_update(taken)
        done = set(marked)
        returned = [i for i in taken if i not in done]
        if returned:
            self._unmarked = returned + self._unmarked
        if written and self._leading and not self._stopping:
            at = time.time()
            self._handed += [Row.written(outbox_id, record, at) for outbox_id, record in written]
            self._wake.set()

    # ------------------------------------------------------------ rounds

    async def publish_once(self, *, sweep: bool = True, mark: bool = True) -> int:
        """Publish one batch of unpublished rows; return how many were published (0 when not leading). With
        ``sweep``, the table is read whatever was handed over; with ``mark``, the rows are marked before it
        returns. The relay's own loop does neither unless due (see the module's docstring)."""
        async with self._round:
            if self._stopping:  # a stopped relay holds no connection, and takes none
                return 0
            self._sweep = self._sweep or sweep
            try:
                published = await self._publish_batch()
                if mark:
                    await self._mark_published()
            except BaseException:
                await self._let_go()  # what was sent and not marked goes out again: consumers deduplicate
                raise
        await self._maybe_report_backlog()
        return published

    async def _rows(self, conn: PoolConnectionProxy) -> list[Row]:
        """The round's rows in id order: what was handed over, and, when a sweep is due, what the table has."""
        handed, self._handed = self._handed[:self.batch_size], self._handed[self.batch_size:]
        if not self._sweep:
            return handed
        self._sweep = False
        self._next_sweep = time.monotonic() + self.sweep_s
        pending = [*self._unmarked, *self._marking]
        read = [Row.read(r) for r in await conn.fetch(_READ, self.batch_size, pending)]
        if len(read) == self.batch_size:
            self._sweep = True  # more to read: the next round goes on
        merged = {row.id: row for row in read}
        for row in handed:
            merged.setdefault(row.id, row)
        return [merged[i] for i in sorted(merged)]

    async def _publish_batch(self) -> int:
        conn = await self._connection()
        if not self._leading:
            self._leading = bool(await conn.fetchval("SELECT pg_try_advisory_lock($1)", _RELAY_LOCK))
            if not self._leading:
                self._handed.clear()
                return 0
            self._sweep = True  # what was written before the lead was taken is in the table only
        rows = await self._rows(conn)
        rows = [row for row in rows if row.id not in self._sent]  # swept, then handed over: once
        if not rows:
            return 0
        deliveries = []
        spans = []
        for row in rows:
            key = row.key.encode() if row.key is not None else None
            stored = row.headers
            span = tracing.publishing(row.topic, row.message_type, stored,
                                      int(row.created_at * 1e9)) if tracing.ENABLED else None
            if span is not None:  # the record carries the publish span's context on, not the handler's
                stored = dict(stored)
                tracing.inject(stored, trace.set_span_in_context(span))
                spans.append(span)
            headers = [(k, str(v).encode()) for k, v in stored.items()]
            try:
                deliveries.append(await self.send(row.topic, row.value, key, headers))
            except Exception as exc:  # refused before it was even queued (no metadata for the topic)
                metrics.OUTBOX_SEND_FAILURES.labels(row.topic, type(exc).__name__).inc()
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
                metrics.OUTBOX_SEND_FAILURES.labels(row.topic, type(outcome).__name__).inc()
        if failed:  # every delivery's outcome is retrieved; the batch is sent again
            raise failed[0]
        acked = time.time()
        if not self._unmarked:
            self._mark_due = time.monotonic() + self.mark_after_s
        self._unmarked += [row.id for row in rows]
        self._sent.update(dict.fromkeys(row.id for row in rows))
        for oldest in list(itertools.islice(self._sent, max(0, len(self._sent) - _SENT_KEPT))):
            del self._sent[oldest]
        for row in rows:
            metrics.OUTBOX_PUBLISHED.labels(row.topic).inc()
            # created_at is the database's clock, the ack this process's: both NTP-synchronised in practice
            metrics.OUTBOX_PUBLISH_LATENCY.labels(row.topic).observe(max(0.0, acked - row.created_at))
        return len(rows)

    async def _mark_if_due(self) -> None:
        if self._unmarked and (time.monotonic() >= self._mark_due or len(self._unmarked) >= self.batch_size):
            async with self._round:
                try:
                    await self._mark_published()
                except BaseException:
                    await self._let_go()
                    raise

    async def _mark_published(self) -> None:
        """Mark what was published and no transaction took, on the relay's own connection."""
        if not self._unmarked or self._conn is None or self._conn.is_closed():
            return
        ids = list(self._unmarked)
        await self._conn.execute(_MARK, ids)
        done = set(ids)  # meanwhile a transaction may have taken some, or given some back
        self._unmarked = [i for i in self._unmarked if i not in done]

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
        # rows published whose mark is pending are not a backlog
        metrics.OUTBOX_BACKLOG.set(max(0, row["n"] - len(self._unmarked) - len(self._marking)))
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
        self._handed.clear()  # the next leader reads them from the table
        self._sweep = True
        if conn is None:
            return
        with contextlib.suppress(Exception):
            conn.terminate()
        with contextlib.suppress(Exception):
            await self.pool.release(conn, timeout=5)

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, writer: object) -> None:
        if writer != self.token:  # another process's rows: only the table has them
            self._sweep = True
            self._wake.set()


def _retrieve(delivery: asyncio.Future[Any]) -> None:
    """An abandoned delivery's outcome, taken so that asyncio does not log it as never retrieved."""
    if not delivery.cancelled():
        delivery.exception()
