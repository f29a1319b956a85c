"""Staged writes: what a handler decided to write, sent with the batch's next statement instead of on its own.

A consumed batch costs a round trip per statement. A handler reads, decides, then writes; its writes need no
answer but "it worked", so they can wait for the statement that ends the batch (the outbox rows and the inbox
claim, ``uow.Emitter.flush_claiming``) and ride it as data-modifying CTEs: one round trip where there were two
or more.

A staged write is one ``INSERT``, ``UPDATE`` or ``DELETE`` whose only parameter is ``$1``, its rows as a JSON
array (read with ``jsonb_to_recordset``), so that any number of them compose into one statement. It may say
what it expects of the rows it returns (``check``), which is called once the statement ran and may raise to roll
the transaction back.

Staging keeps the order a reader expects, through ``StagingConnection``, the connection a unit of work's stores
use:

* any statement sent on it (a read, or a write that returns what it needs) first sends what was staged before
  it, in one statement, so nothing reads around a staged write;
* a transaction or savepoint begun on it first sends what was staged before, and sends what was staged inside
  it before it ends; what was staged inside one that is rolled back is dropped with it;
* the consumer runtime sends what one handler staged before the next handler runs (two writes of one row in
  one statement would not see each other), and the last handler's with the outbox statement;
* a statement that writes and reads nothing of what is staged may carry it (``fetch_carrying``).

Within one handler, two staged writes must not touch the same row: they run in one statement, as CTEs that see
the same snapshot. Handlers that write a row twice write it once, deduplicated (as the batch handlers do).

A staged write that fails does so in a later statement, so its error names no message: the runtime then does
the batch again carefully, with each handler's writes sent inside its own savepoint (``StagedWriteFailed``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import asyncpg
import orjson

from shared.persistence.db import TRANSIENT_DB_ERRORS

_PARAMETER = re.compile(r"\$(\d+)")
Check = Callable[[list[dict[str, Any]]], None]


@dataclass(frozen=True)
class StagedWrite:
    """One data-modifying statement with its rows (``$1``), and what to check of the rows it returns."""

    sql: str
    rows: Sequence[Any]
    check: Check | None = None

    def __post_init__(self) -> None:
        if {int(n) for n in _PARAMETER.findall(self.sql)} != {1}:
            raise ValueError("a staged write takes exactly one parameter, $1: its rows")
        if self.sql.lstrip().split(None, 1)[0].upper() not in ("INSERT", "UPDATE", "DELETE"):
            raise ValueError("a staged write is one INSERT, UPDATE or DELETE")


class StagedWriteFailed(Exception):
    """A staged write failed in the statement it rode: the error is the database's answer to it, not to
    the statement that carried it."""


@dataclass(frozen=True)
class Composed:
    """Staged writes as CTEs of a larger statement: their text, their arguments (numbered from ``first``),
    and the columns of the final ``SELECT`` that return what the checked ones wrote."""

    ctes: list[str]
    args: list[Any]
    returned: list[str]
    checks: list[tuple[str, Check]]

    def run_checks(self, row: Any) -> None:
        """Each check, given what its write returned; one that raises fails the write (``StagedWriteFailed``)."""
        for name, check in self.checks:
            returned = row[name]
            try:
                check(list((orjson.loads(returned) if isinstance(returned, str) else returned) or []))
            except Exception as exc:
                raise StagedWriteFailed(f"{name}: {exc!r}") from exc


def compose(writes: Sequence[StagedWrite], first: int, only_if: str | None = None) -> Composed:
    """``writes`` as CTEs, their rows numbered from ``first``; with ``only_if``, a condition of the statement
    they ride, each writes its rows only when it holds (else none)."""
    ctes, args, returned, checks = [], [], [], []
    for i, write in enumerate(writes):
        name = f"staged_{i}"
        # the rows travel as text, whatever codecs the connection has for json
        rows = f"${first + i}::text"
        if only_if is not None:
            rows = f"(CASE WHEN {only_if} THEN {rows} ELSE '[]' END)"
        ctes.append(f"{name} AS ({write.sql.strip().rstrip(';').replace('$1', rows)})")
        args.append(orjson.dumps(list(write.rows)).decode())
        if write.check is not None:
            returned.append(f"(SELECT jsonb_agg(to_jsonb(r)) FROM {name} r) AS {name}")
            checks.append((name, write.check))
    return Composed(ctes, args, returned, checks)


def failed(exc: BaseException) -> bool:
    """Whether ``exc`` is a staged write's own failure (the database refused it), not the database being away."""
    return isinstance(exc, asyncpg.PostgresError) and not isinstance(exc, TRANSIENT_DB_ERRORS)


async def send(conn: Any, writes: list[StagedWrite]) -> None:
    """Send ``writes`` (emptied) in one statement, and check what they returned."""
    if not writes:
        return
    taken = writes[:]
    writes.clear()
    composed = compose(taken, 1)
    try:
        row = await conn.fetchrow(f"WITH {', '.join(composed.ctes)} SELECT {', '.join(composed.returned) or '1'}",
                                  *composed.args)
    except Exception as exc:
        if failed(exc):
            raise StagedWriteFailed(repr(exc)) from exc
        raise
    composed.run_checks(row)


class StagingConnection:
    """A connection whose stores may stage writes (``stage``): see the module docstring. Until ``deferring``
    is set (by whoever sends the staged writes at the end: the consumer runtime, ``uow.transaction``), a
    staged write is sent at once."""

    def __init__(self, conn: Any, writes: list[StagedWrite]) -> None:
        self.raw = conn
        self.writes = writes
        self.deferring = False
        #: set by the consumer runtime when it began no transaction for the batch: the first statement sent
        #: here begins one (a batch that sends none ends with one statement, its own transaction)
        self.begin_lazily = False
        #: statements sent here (staged writes sent on their own included)
        self.sent = 0

    async def _begin(self) -> None:
        self.sent += 1
        if self.begin_lazily and not self.raw.is_in_transaction():
            await self.raw.execute("BEGIN")

    async def stage(self, write: StagedWrite) -> None:
        self.writes.append(write)
        if not self.deferring:
            await self.flush()

    async def flush(self) -> None:
        if self.writes:
            await self._begin()
            await send(self.raw, self.writes)

    async def _ready(self) -> None:
        """Before a statement: the transaction begun, what was staged sent."""
        await self._begin()
        await self.flush()

    async def fetch(self, query: str, *args: Any, **kwargs: Any) -> Any:
        await self._ready()
        return await self.raw.fetch(query, *args, **kwargs)

    async def fetchrow(self, query: str, *args: Any, **kwargs: Any) -> Any:
        await self._ready()
        return await self.raw.fetchrow(query, *args, **kwargs)

    async def fetchval(self, query: str, *args: Any, **kwargs: Any) -> Any:
        await self._ready()
        return await self.raw.fetchval(query, *args, **kwargs)

    async def execute(self, query: str, *args: Any, **kwargs: Any) -> Any:
        await self._ready()
        return await self.raw.execute(query, *args, **kwargs)

    async def executemany(self, query: str, args: Any, **kwargs: Any) -> Any:
        await self._ready()
        return await self.raw.executemany(query, args, **kwargs)

    async def fetch_carrying(self, query: str, *args: Any) -> Any:
        """``fetch`` a ``WITH`` statement that reads nothing the staged writes touch: they ride it as its first
        CTEs (those with a check are sent before it, on their own)."""
        await self._begin()
        if any(w.check is not None for w in self.writes):
            await self.flush()
        if not self.writes:
            return await self.raw.fetch(query, *args)
        head, rest = query.lstrip()[:4], query.lstrip()[4:]
        if head.upper() != "WITH":
            raise ValueError("only a WITH statement carries staged writes")
        taken = self.writes[:]
        self.writes.clear()
        composed = compose(taken, len(args) + 1)
        return await self.raw.fetch(f"WITH {', '.join(composed.ctes)},{rest}", *args, *composed.args)

    def transaction(self, **kwargs: Any) -> _FlushingTransaction:
        return _FlushingTransaction(self, self.raw.transaction(**kwargs))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.raw, name)


class _FlushingTransaction:
    """A transaction or savepoint that owns the writes staged inside it (see the module docstring)."""

    def __init__(self, conn: StagingConnection, transaction: Any) -> None:
        self.conn = conn
        self.transaction = transaction
        self.mark = 0

    async def __aenter__(self) -> Any:
        await self.conn._ready()  # a savepoint, then, if the batch's transaction was begun lazily
        self.mark = len(self.conn.writes)
        return await self.transaction.__aenter__()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> Any:
        if exc_type is None:
            try:
                await self.conn.flush()
            except BaseException as error:
                await self.transaction.__aexit__(type(error), error, error.__traceback__)
                raise
        else:
            del self.conn.writes[self.mark:]
        return await self.transaction.__aexit__(exc_type, exc, tb)


async def fetch_carrying(conn: Any, query: str, *args: Any) -> Any:
    """``StagingConnection.fetch_carrying`` on a unit of work's connection, a plain ``fetch`` on another."""
    if isinstance(conn, StagingConnection):
        return await conn.fetch_carrying(query, *args)
    return await conn.fetch(query, *args)


def stage_or_send(conn: Any) -> Callable[[StagedWrite], Any]:
    """How a store writes ``StagedWrite``s on ``conn``: staged on a ``StagingConnection``, else sent at once."""
    if isinstance(conn, StagingConnection):
        return conn.stage
    return lambda write: send(conn, [write])
