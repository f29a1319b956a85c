"""The consumer runtime: one database transaction per consumed batch, exactly-once effects.

For each batch of Kafka records a service's consumer group receives:

1. every record is decoded against the contract (``decoding``); what cannot be decoded becomes a dead
   letter on ``<topic>.dlq`` with the reason and the original bytes;
2. in one transaction (begun by the previous batch's commit: ``shared/persistence/primed.py``), the new
   messages run their handlers, a run of consecutive messages of one topic and handler at a time (a batch
   handler gets the whole run), with no savepoint; what a handler staged is sent before the next one runs
   (``shared/persistence/staging.py``);
3. one statement writes the last handler's staged writes and the staged outbox rows, marks what the relay
   published, and claims the message ids in the inbox (``consumer, message_id`` primary key). If an id was
   there already (a redelivery), or anything in the batch raised (a staged write too), the transaction is
   rolled back and the batch done again claiming first, with a savepoint per run and per message in the run
   that failed (staged writes sent inside it): a ``Rejection`` becomes a
   ``CommandRejected`` event and nothing else; any other error is retried a bounded number of times with
   backoff, then the message is dead-lettered; the batch goes on;
4. the transaction commits, and the relay gets the rows it wrote. Only then are the batch's offsets noted,
   for the group consumer to commit (``shared/messaging/group_consumer.py``).

A database error is the database's fault, not the message's: the batch is rolled back and read again from
its first offsets.
"""
from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Generic, TypeVar

import asyncpg
import structlog
from aiokafka import ConsumerRecord

from shared.contract.rejections import CommandRejected
from shared.domain import Rejection
from shared.messaging.decoding import Inbound, Subscription, dead_letter, decode, record_key, replay_id
from shared.messaging.outbox import OutboxRelay
from shared.messaging.outcomes import Outcomes
from shared.observability import metrics, tracing
from shared.persistence import inbox
from shared.persistence.db import TRANSIENT_DB_ERRORS, Conn
from shared.persistence.primed import PrimedConnection
from shared.persistence.staging import StagedWriteFailed
from shared.persistence.uow import OutboxRecord, UnitOfWork

log = structlog.get_logger(__name__)

U = TypeVar("U", bound=UnitOfWork)

#: a batch waits at most this long for a connection: a pool that cannot give one is a database problem,
#: retried and logged like one, never a consumer that hangs in silence
ACQUIRE_TIMEOUT_S = 30.0


def _claimable(item: Inbound) -> bool:
    """A message this group handles, or one it dead-letters: either is claimed in its inbox."""
    return item.dead_letter is not None or (
        item.message is not None and item.subscription.handles(item.message.cause.message_type))


class _RunFailed(Exception):
    """A run failed in a batch's first pass, which takes no savepoint: its transaction is rolled back
    and the batch done again carefully. ``failed_id``: the message to blame, when there is one (it
    has had its first attempt); ``first_id`` names the run. Ids, not positions: the careful pass
    leaves out what the inbox had already, so a run's positions may differ there."""

    def __init__(self, first_id: str, failed_id: str | None) -> None:
        super().__init__(first_id, failed_id)
        self.first_id = first_id
        self.failed_id = failed_id


class _SeenBefore(Exception):
    """A batch's first pass found one of its messages in the inbox already: it is rolled back."""


def _topic(record: ConsumerRecord[bytes, bytes]) -> str:
    return record.topic


def _run_of(item: Inbound) -> tuple[int, object]:
    """What consecutive messages must share to run together: their subscription, and their batch
    handler (several types may share one, which then receives them mixed, in order) or their type."""
    batch_handler = item.subscription.batch_handlers.get(item.type)
    return id(item.subscription), batch_handler if batch_handler is not None else item.type


class ConsumerRuntime(Generic[U]):
    """Handles the batches of one consumer group (one per service)."""

    def __init__(
        self,
        *,
        group_id: str,
        subscriptions: Sequence[Subscription],
        pool: asyncpg.Pool,
        uow_factory: Callable[[Conn], U],
        max_attempts: int = 3,
        retry_base_s: float = 0.05,
        on_db_state: Callable[[bool], None] | None = None,
        relay: OutboxRelay | None = None,
    ) -> None:
        self.group_id = group_id
        self.subscriptions = list(subscriptions)
        self.by_topic = {s.topic.name: s for s in subscriptions}
        self.pool = pool
        self.uow_factory = uow_factory
        self.max_attempts = max_attempts
        self.retry_base_s = retry_base_s
        self.on_db_state = on_db_state or (lambda ok: None)
        #: the process's outbox relay: a transaction marks what it published, and hands it what it wrote
        self.relay = relay
        self._primed = PrimedConnection(pool, acquire_timeout_s=ACQUIRE_TIMEOUT_S)
        #: how often batches lately sent a statement before their last one (a moving average): a transaction is
        #: begun ahead for the next batch only while most did (``PrimedConnection``)
        self._reading = 1.0
        self._db_failures = 0
        self._batch_failures = 0
        self._outcomes = Outcomes(group_id)  # batches are handled one at a time

    @property
    def topic_names(self) -> list[str]:
        return [s.topic.name for s in self.subscriptions]

    async def handle_records(self, records: Sequence[ConsumerRecord[bytes, bytes]]) -> None:
        # A batch lists its partitions in no particular order, and records of different partitions
        # have no order between them: grouping them by topic (stably, so each partition keeps its
        # order) makes the runs of one subscription's messages as long as they can be.
        inbound = [replay_id(decode(r, self.by_topic[r.topic]), self.group_id) for r in sorted(records, key=_topic)]
        started = time.perf_counter()
        try:
            touched_database = await self._passes(inbound)
        except TRANSIENT_DB_ERRORS as exc:
            self._db_failures += 1
            self.on_db_state(False)
            delay = min(5.0, 0.1 * 2 ** min(self._db_failures, 6))
            log.warning("batch_retry_database_unavailable", error=repr(exc), retry_in_s=delay)
            await asyncio.sleep(delay)
            raise
        except Exception as exc:
            # Not a message's fault (those are dead-lettered one by one) nor the database being away: a bug.
            # The batch is rolled back and redelivered, and would block its partitions in silence (the
            # broker's own error logging is off): say so loudly, and do not spin.
            self._batch_failures += 1
            delay = min(30.0, 0.5 * 2 ** min(self._batch_failures, 6))
            metrics.BATCH_FAILURES.labels(self.group_id).inc()
            log.error("batch_failed", error=repr(exc)[:2000], retry_in_s=delay, records=len(records),
                      positions=sorted({f"{r.topic}/{r.partition}@{r.offset}" for r in records})[:20])
            await asyncio.sleep(delay)
            raise
        if touched_database:
            # Only a committed transaction says the database is back: a batch with nothing for this group
            # (redelivered between two failures) must neither reset the backoff nor report it ready.
            self._db_failures = 0
            self._batch_failures = 0
            self.on_db_state(True)
        metrics.HANDLER_LATENCY.labels(self.group_id).observe(time.perf_counter() - started)

    async def _passes(self, inbound: list[Inbound]) -> bool:
        """The first pass assumes every message is new and claims them with the outbox write at the end;
        a message handled before (a redelivery) rolls it back, and the batch is done again claiming first.
        A run that fails rolls back a pass too: the batch is done again carefully, claiming first.
        Returns whether a transaction was committed (a batch with nothing for this group takes none)."""
        careful: _RunFailed | None = None
        try:
            return await self._transaction(inbound, careful, claim_first=False)
        except _SeenBefore:
            log.info("batch_redelivered_claiming_first", records=len(inbound))
        except _RunFailed as failed:
            careful = failed
        try:
            return await self._transaction(inbound, careful, claim_first=True)
        except _RunFailed as failed:  # raised by a pass that was not careful yet
            return await self._transaction(inbound, failed, claim_first=True)

    async def _transaction(self, inbound: list[Inbound], careful: _RunFailed | None, claim_first: bool) -> bool:
        """The batch in one transaction. ``careful`` is None at first: runs take no savepoint, and one
        that fails aborts the transaction (``_RunFailed``). Then the batch is done again with a savepoint
        per run and, in the run that failed, per message (see ``_run_batch``). A batch with nothing for
        this group takes no transaction at all. Not ``claim_first``, the inbox claim shares the outbox's
        statement at the end; if any message was claimed before, ``_SeenBefore`` rolls the transaction back."""
        ids = list(dict.fromkeys(i.message_id for i in inbound if _claimable(i)))  # a batch may repeat one
        if not ids:
            return False
        self._outcomes.clear()
        relay = self.relay
        token, marks = (relay.token, relay.take_marks()) if relay is not None else ("", [])
        marked: list[int] = []
        written: list[tuple[int, OutboxRecord]] = []
        try:
            first_pass = careful is None and not claim_first
            async with self._connection(first_pass=first_pass) as conn:
                uow = self.uow_factory(conn)
                uow.conn.deferring = True  # the last handler's writes ride the outbox statement
                uow.conn.begin_lazily = True  # (a first pass may have no transaction yet: see _connection)
                fresh = dict.fromkeys(await inbox.claim(conn, self.group_id, ids) if claim_first else ids, True)
                await self._dispatch(uow, [i for i in inbound if i.message_id in fresh and fresh.pop(i.message_id)],
                                     careful)
                alone = not conn.is_in_transaction()  # nothing was sent: the last statement is the transaction
                try:
                    if claim_first:
                        await uow.outbox.flush(conn, notify=token, mark=marks)
                    elif await uow.outbox.flush_claiming(conn, self.group_id, ids, notify=token, mark=marks,
                                                         alone=alone) != len(ids):
                        raise _SeenBefore
                except StagedWriteFailed as exc:  # a handler's write, refused: which one, the careful pass finds
                    raise _RunFailed("", None) from exc
                except asyncpg.UniqueViolationError as exc:  # alone, it met a claim made meanwhile
                    if not alone:
                        raise
                    raise _SeenBefore from exc
                if first_pass:
                    self._reading = 0.8 * self._reading + 0.2 * (uow.conn.sent > 0)
                    self._primed.prime_next = self._reading >= 0.5
            marked, written = uow.outbox.marked, uow.outbox.written  # committed
        finally:  # committed, or not: the relay learns which of its marks were made, and what to send
            if relay is not None:
                relay.settle(marks, marked, written)
        uow.outbox.committed()
        self._outcomes.report()  # committed: a pass rolled back counts nothing
        return True

    @contextlib.asynccontextmanager
    async def _connection(self, *, first_pass: bool) -> AsyncIterator[Conn]:
        """A first pass on the primed connection (no ``BEGIN`` of its own); a careful one (savepoints) pooled."""
        if first_pass:
            async with self._primed.transaction(lazy=self._reading < 0.5) as conn:
                yield conn
            return
        async with self.pool.acquire(timeout=ACQUIRE_TIMEOUT_S) as conn, conn.transaction():
            yield conn

    async def close(self) -> None:
        """Give back the connection held between batches (after the last batch, before the pool closes)."""
        await self._primed.close()

    async def _dispatch(self, uow: U, inbound: list[Inbound], careful: _RunFailed | None = None) -> None:
        run: list[Inbound] = []
        for item in inbound:
            if item.dead_letter:
                await self._run_batch(uow, run, careful)
                run = []
                reason, error = item.dead_letter
                self._dead_letter(uow, item, reason, error, attempts=1)
                continue
            if run and _run_of(run[0]) != _run_of(item):
                await self._run_batch(uow, run, careful)
                run = []
            run.append(item)
        await self._run_batch(uow, run, careful)

    async def _run_batch(self, uow: U, run: list[Inbound], careful: _RunFailed | None = None) -> None:
        if not run:
            return
        if careful is None:
            await self._run_optimistically(uow, run, guarded=False)
            return
        if careful.first_id == run[0].message_id:
            failed_id = careful.failed_id  # this run failed already: straight to one message at a time
        else:
            failed_at = await self._run_optimistically(uow, run) if len(run) > 1 else None
            if failed_at == len(run):
                return
            failed_id = run[failed_at].message_id if failed_at is not None else None
        for item in run:
            # the message that failed the optimistic pass has had its first attempt already
            await self._run_one(uow, item, first_attempt=2 if item.message_id == failed_id else 1)

    async def _run_optimistically(self, uow: U, run: list[Inbound], *, guarded: bool = True) -> int | None:
        """The whole run at once: a batch handler once, or each message's handler in turn.

        This saves savepoint round trips in the common case. ``guarded``, the run takes one savepoint:
        if anything in it raises (a rejection, a poison message), its effects are rolled back and the
        caller handles each message in its own savepoint, so one bad message never affects the others.
        Returns ``len(run)`` on success, else the index of the message that failed (None when a
        batch handler failed and no single message is to blame). Not ``guarded`` (the first pass over
        a batch), it takes none: a failure raises ``_RunFailed`` and the whole batch is done again."""
        subscription, message_type = run[0].subscription, run[0].type
        batch_handler = subscription.batch_handlers.get(message_type)
        handler = subscription.handlers.get(message_type)
        mark = uow.outbox.mark()
        current: int | None = None
        started = time.perf_counter()
        try:
            async with uow.conn.transaction() if guarded else contextlib.nullcontext():
                if batch_handler is not None:
                    with tracing.consuming_run(((i.record, i.type, i.message_id) for i in run), self.group_id) \
                            as contexts:
                        self._traced(uow, run, contexts)
                        await uow.conn.flush()  # the previous run's writes go before this one runs
                        await batch_handler([i.message for i in run if i.message], uow)
                else:
                    assert handler is not None
                    for current, item in enumerate(run):  # noqa: B007 - read in the except clause
                        assert item.message is not None
                        await uow.conn.flush()  # the previous handler's writes go before this one runs
                        with self._span(uow, item), uow.outbox.caused_by(item.message.cause):
                            await handler(item.message.payload, uow)
        except TRANSIENT_DB_ERRORS:
            raise
        except Exception as exc:
            rejected = isinstance(exc, Rejection)  # not the message's fault: it is simply rejected again alone
            if not rejected:
                log.info("run_failed_falling_back_to_single", type=message_type, size=len(run), error=repr(exc))
            if isinstance(exc, StagedWriteFailed):  # a write staged earlier, maybe by another run: no one to blame
                if not guarded:
                    raise _RunFailed("", None) from exc
                current = None
            if not guarded:
                blamed = None if rejected or current is None else run[current].message_id
                raise _RunFailed(run[0].message_id, blamed) from exc
            uow.outbox.rewind(mark)
            return None if rejected else current
        metrics.HANDLER_DURATION.labels(self.group_id, message_type).observe(time.perf_counter() - started)
        self._outcomes.note(run, "ok")
        return len(run)

    def _span(self, uow: U, item: Inbound) -> contextlib.AbstractContextManager[object]:
        """The message's handler span (see ``tracing.consuming``); what it emits continues its trace."""
        if not tracing.ENABLED:
            return contextlib.nullcontext()
        return self._traced_one(uow, item)

    @contextlib.contextmanager
    def _traced_one(self, uow: U, item: Inbound) -> Iterator[None]:
        with tracing.consuming(item.record, self.group_id, item.type, item.message_id) as context:
            self._traced(uow, [item], [context] if context is not None else [])
            yield

    @staticmethod
    def _traced(uow: U, items: list[Inbound], contexts: Sequence[object]) -> None:
        for item, context in zip(items, contexts, strict=False):
            if item.message is not None:
                uow.outbox.traces[item.message.cause.event_id] = context

    async def _run_one(self, uow: U, item: Inbound, first_attempt: int = 1) -> None:
        assert item.message is not None
        subscription, message_type = item.subscription, item.type
        batch_handler = subscription.batch_handlers.get(message_type)
        handler = subscription.handlers.get(message_type)
        for attempt in range(min(first_attempt, self.max_attempts), self.max_attempts + 1):
            mark = uow.outbox.mark()
            started = time.perf_counter()
            try:
                async with uow.conn.transaction():
                    with self._span(uow, item), uow.outbox.caused_by(item.message.cause):
                        if handler is not None:
                            await handler(item.message.payload, uow)
                        else:
                            assert batch_handler is not None
                            await batch_handler([item.message], uow)
                metrics.HANDLER_DURATION.labels(self.group_id, message_type).observe(time.perf_counter() - started)
                self._outcomes.note([item], "ok")
                return
            except Rejection as rejection:
                uow.outbox.rewind(mark)
                self._reject(uow, item, rejection)
                return
            except TRANSIENT_DB_ERRORS:
                raise
            except Exception as exc:
                uow.outbox.rewind(mark)
                log.warning("handler_failed", type=message_type, attempt=attempt, error=repr(exc))
                if attempt == self.max_attempts:
                    self._dead_letter(uow, item, "handler_failed", repr(exc)[:2000], attempts=attempt)
                    return
                await asyncio.sleep(self.retry_base_s * 4 ** (attempt - 1))

    def _reject(self, uow: U, item: Inbound, rejection: Rejection) -> None:
        assert item.message is not None
        target = item.subscription.rejections
        self._outcomes.note([item], "rejected", reason=rejection.reason if target is not None else None)
        if target is None:
            self._dead_letter(uow, item, rejection.reason, rejection.message, attempts=1)
            return
        with uow.outbox.caused_by(item.message.cause):
            uow.emit(
                target,
                CommandRejected(
                    command_id=item.message_id,
                    command_type=item.type,
                    reason=rejection.reason,
                    message=rejection.message[:1000],
                ),
                key=record_key(item.record),
            )
        log.info("command_rejected", type=item.type, reason=rejection.reason)

    def _dead_letter(self, uow: U, item: Inbound, reason: str, error: str, *, attempts: int) -> None:
        record = item.record
        letter = dead_letter(record, self.group_id, reason, error, attempts=attempts)
        uow.outbox.emit_raw(item.subscription.topic.dlq, record_key(record), "DeadLetter",
                            letter.model_dump_json().encode())
        self._outcomes.note([item], "dead_lettered", reason=reason)
        log.warning("dead_lettered", topic=record.topic, offset=record.offset, reason=reason)
