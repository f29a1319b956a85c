"""The unit of work: one database transaction, the repositories on it, and the outbox.

Handlers receive a unit of work and never commit: the consumer runtime (or the
``transaction`` helper for timers and jobs) owns the transaction. Messages a handler
emits are staged and written to the outbox inside that same transaction, so a state
change and the events it causes are durable together or not at all.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import AbstractContextManager, asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import asyncpg
import orjson
import structlog

from shared.cause import Cause
from shared.clock import Clock, SystemClock
from shared.contract.envelope import Envelope, Payload
from shared.contract.topics import Topic
from shared.observability import tracing
from shared.persistence.db import Conn
from shared.persistence.inbox import UNSEEN, claim_alone_cte, claim_cte
from shared.persistence.staging import Composed, StagedWrite, StagedWriteFailed, StagingConnection, compose, failed

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class OutboxRecord:
    event_id: uuid.UUID
    topic: str
    key: str | None
    message_type: str
    value: bytes
    headers: dict[str, str]


def encode_envelope(envelope: Envelope[Any]) -> bytes:
    return envelope.model_dump_json().encode()


def build_record(topic: str, key: str | None, envelope: Envelope[Any]) -> OutboxRecord:
    return OutboxRecord(
        event_id=envelope.event_id,
        topic=topic,
        key=key,
        message_type=envelope.type,
        value=encode_envelope(envelope),
        headers={
            "type": envelope.type,
            "event_id": str(envelope.event_id),
            "correlation_id": str(envelope.correlation_id),
        },
    )


class Emitter:
    """Stages outgoing messages; ``mark``/``rewind`` drop what a rolled-back savepoint emitted.

    A message emitted inside ``caused_by(cause)`` carries the cause's correlation id and names it as
    its causation; outside any, it starts a flow of its own. The runtime sets the cause around a
    single handler; a batch handler sets it around each message's emits."""

    def __init__(self, producer: str) -> None:
        self.producer = producer
        self.pending: list[OutboxRecord] = []
        #: writes the stores staged (``shared/persistence/staging.py``), sent with the outbox rows at the latest
        self.writes: list[StagedWrite] = []
        #: what the last flush wrote (outbox id, record), and the published rows it marked
        self.written: list[tuple[int, OutboxRecord]] = []
        self.marked: list[int] = []
        #: what to do once the transaction has committed (metrics): dropped with a rolled-back savepoint or pass
        self.on_commit: list[Callable[[], None]] = []
        self._cause: Cause | None = None
        #: the trace context of each message being handled (its span), by event id: what a message it
        #: causes carries on (set by the consumer runtime when tracing is on; see shared/observability/tracing.py)
        self.traces: dict[uuid.UUID, Any] = {}

    @property
    def cause(self) -> Cause | None:
        """The message being handled, if any: what ``emit`` names as the cause."""
        return self._cause

    @contextmanager
    def caused_by(self, cause: Cause | None) -> Iterator[None]:
        """Within the block, emitted messages were caused by ``cause``; the previous cause is restored after."""
        previous, self._cause = self._cause, cause
        try:
            yield
        finally:
            self._cause = previous

    def emit(self, topic: Topic | str, payload: Payload, *, key: str | None) -> Envelope[Any]:
        cause = self._cause
        envelope: Envelope[Any] = Envelope(
            type=payload.message_type,
            producer=self.producer,
            correlation_id=cause.correlation_id if cause else uuid.uuid4(),
            causation_id=cause.event_id if cause else None,
            payload=payload,
        )
        name = topic.name if isinstance(topic, Topic) else topic
        record = build_record(name, key, envelope)
        if tracing.ENABLED:  # the handler's span (the cause's, in a batch handler's run) goes with the row
            tracing.inject(record.headers, self.traces.get(cause.event_id) if cause else None)
        self.pending.append(record)
        return envelope

    def emit_raw(self, topic: str, key: str | None, message_type: str, value: bytes) -> None:
        """Stage a message that is not an envelope (a dead letter)."""
        event_id = uuid.uuid4()
        self.pending.append(
            OutboxRecord(event_id, topic, key, message_type, value, {"type": message_type, "event_id": str(event_id)})
        )

    def mark(self) -> tuple[int, int]:
        return len(self.pending), len(self.on_commit)

    def rewind(self, mark: tuple[int, int]) -> None:
        del self.pending[mark[0]:]
        del self.on_commit[mark[1]:]

    def committed(self) -> None:
        """The transaction committed: run what waited for it (a failure is logged, never raised)."""
        done, self.on_commit = self.on_commit, []
        for action in done:
            try:
                action()
            except Exception:
                log.exception("after_commit_failed")

    async def flush(self, conn: Conn, *, notify: str = "", mark: Sequence[int] = ()) -> int:
        """Write the staged messages to the outbox, in order, and wake the relays at commit (``notify`` is the
        notification's payload: who wrote): one statement, which also carries the staged writes. ``mark``: ids
        of rows the relay has published, marked so in the same statement (only when there is something to
        write). ``written`` and ``marked`` say what it did; returns how many messages were written."""
        self.written, self.marked = [], []
        if not self.pending and not self.writes:
            return 0
        records, self.pending = self.pending, []
        staged = self._take_writes(9)
        row = await self._fetchrow(
            conn, staged, f"WITH {_WRITE_OUTBOX.format(where='')}, {_MARK_PUBLISHED.format(mark=8)}, "
                          f"{_WOKEN.format(notify=7)}"
                          f"{_ctes(staged)} SELECT {_WRITTEN_IDS}{_returned(staged)}",
            *_columns(records), notify, list(mark), *staged.args)
        self._written(records, row, mark)
        return len(records)

    async def flush_claiming(self, conn: Conn, consumer: str, message_ids: list[str], *, notify: str = "",
                             mark: Sequence[int] = (), alone: bool = False) -> int:
        """``flush``, and in the same statement claim ``message_ids`` in ``consumer``'s inbox; return how
        many of them were not there yet. ``alone``: the statement is its own transaction (none was begun), so
        it claims all the ids or none, and writes nothing unless it claimed them (``inbox.claim_alone_cte``)."""
        records, self.pending = self.pending, []
        staged = self._take_writes(11, only_if=UNSEEN if alone else None)
        claim = claim_alone_cte(7, 8) if alone else claim_cte(7, 8)
        row = await self._fetchrow(
            conn, staged,
            f"""WITH {claim}, {_WRITE_OUTBOX.format(where=f"WHERE {UNSEEN}" if alone else "")},
                {_MARK_PUBLISHED.format(mark=10)}, {_WOKEN.format(notify=9)}
                {_ctes(staged)} SELECT (SELECT count(*) FROM claimed) AS claimed, {_WRITTEN_IDS}{_returned(staged)}""",
            *_columns(records), consumer, message_ids, notify, list(mark), *staged.args,
        )
        self._written(records, row, mark)
        assert row is not None  # aggregates: always one row
        return int(row["claimed"])

    def _take_writes(self, first: int, only_if: str | None = None) -> Composed:
        writes, self.writes[:] = self.writes[:], []
        return compose(writes, first, only_if)

    @staticmethod
    async def _fetchrow(conn: Conn, staged: Composed, query: str, *args: Any) -> Any:
        """The outbox statement; the staged writes it carries are checked, and their refusal told apart."""
        try:
            row = await conn.fetchrow(query, *args)
        except Exception as exc:
            if staged.ctes and failed(exc):
                raise StagedWriteFailed(repr(exc)) from exc
            raise
        staged.run_checks(row)
        return row

    def _written(self, records: list[OutboxRecord], row: Any, mark: Sequence[int]) -> None:
        ids = (row["ids"] if row is not None else None) or []
        self.written = list(zip(ids, records, strict=True))
        self.marked = list(mark)


def _ctes(staged: Composed) -> str:
    return "".join(f", {cte}" for cte in staged.ctes)


def _returned(staged: Composed) -> str:
    return "".join(f", {column}" for column in staged.returned)


def _columns(records: list[OutboxRecord]) -> tuple[list[Any], ...]:
    return ([r.event_id for r in records], [r.topic for r in records], [r.key for r in records],
            [r.message_type for r in records], [r.value for r in records], [dumps(r.headers) for r in records])


#: a CTE named ``written``: the staged records ($1..$6, one array per column) inserted in order (``where``: the
#: condition they are written on, if any)
_WRITE_OUTBOX = """written AS (
    INSERT INTO outbox (event_id, topic, message_key, message_type, value, headers)
    SELECT event_id, topic, message_key, message_type, value, headers::jsonb
    FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::bytea[], $6::text[])
         WITH ORDINALITY AS m(event_id, topic, message_key, message_type, value, headers, n)
    {where}
    ORDER BY n
    RETURNING id)"""
#: rows the relay has published, marked in the writing transaction (a data-modifying CTE always runs)
_MARK_PUBLISHED = """marked AS (UPDATE outbox SET published_at = now() WHERE id = any(${mark}::bigint[]))"""
#: the relays are woken at commit, told who wrote (the writer's own relay has the rows in hand already)
_WOKEN = """woken AS (SELECT pg_notify('outbox', ${notify}::text) WHERE EXISTS (SELECT FROM written))"""
#: the written rows' ids in order, and the notification forced to happen
_WRITTEN_IDS = """(SELECT array_agg(id ORDER BY id) FROM written) AS ids, (SELECT count(*) FROM woken) AS woken"""


class UnitOfWork:
    """Base unit of work on one connection inside one transaction.

    Services subclass it to hang their repositories on ``self.conn``; unit tests use
    fakes of the service's own port instead.
    """

    def __init__(self, conn: Conn, producer: str, clock: Clock | None = None) -> None:
        self.clock: Clock = clock or SystemClock()
        self.outbox = Emitter(producer)
        #: the stores' connection: what they stage rides the outbox statement (``shared/persistence/staging.py``)
        self.conn = StagingConnection(conn, self.outbox.writes)
        self.commit_requested = False

    def commit(self) -> None:
        """Ask for the transaction to be committed when the unit of work ends."""
        self.commit_requested = True

    @property
    def cause(self) -> Cause | None:
        return self.outbox.cause

    def caused_by(self, cause: Cause | None) -> AbstractContextManager[None]:
        """See ``Emitter.caused_by``."""
        return self.outbox.caused_by(cause)

    def emit(self, topic: Topic | str, payload: Payload, *, key: str | None) -> Envelope[Any]:
        """Stage a message for the outbox, caused by the message being handled (see ``caused_by``)."""
        return self.outbox.emit(topic, payload, key=key)

    def after_commit(self, action: Callable[[], None]) -> None:
        """Run ``action`` once the transaction commits, and never if it is rolled back: a batch the runtime
        rolls back and does again counts its metrics once."""
        self.outbox.on_commit.append(action)


U = TypeVar("U", bound=UnitOfWork)


@asynccontextmanager
async def transaction(pool: asyncpg.Pool, factory: Callable[[Conn], U]) -> AsyncIterator[U]:
    """A unit of work for timers and jobs. It rolls back unless the block called ``uow.commit()``."""
    async with pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        uow = factory(conn)
        uow.conn.deferring = True
        try:
            yield uow
            if uow.commit_requested:
                await uow.outbox.flush(conn)
                await tx.commit()
                uow.outbox.committed()
            else:
                await tx.rollback()
        except BaseException:
            await tx.rollback()
            raise


def dumps(value: Any) -> str:
    return orjson.dumps(value).decode()
