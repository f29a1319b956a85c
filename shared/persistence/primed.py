"""The consumer runtime's own connection, kept with its next transaction already begun.

A consumed batch's transaction costs ``BEGIN``, the handlers' statements, the outbox statement and
``COMMIT``, each a round trip. asyncpg sends ``BEGIN`` on its own, before the first statement it could
have ridden with. Here the commit of one batch begins the next batch's transaction in the same round trip
(``COMMIT; BEGIN``: one simple query, two commands), so a batch that follows another pays no ``BEGIN``.

A transaction begun ahead of its work has two consequences, both bounded here:

* ``now()`` in SQL is the time the transaction began. A transaction begun more than ``max_age_s`` before
  its batch is begun again (``ROLLBACK; BEGIN``, in the one round trip a ``BEGIN`` costs anyway), so
  ``now()`` is never older than that, much as a batch's own statements already run after it.
* Between batches the session is "idle in transaction" with nothing done: PostgreSQL takes no snapshot and
  assigns no transaction id before the first statement, so it holds back neither vacuum nor any lock. A
  server that ends such sessions (``idle_in_transaction_session_timeout``) costs a new connection at the
  next batch, nothing else.

A batch that sends nothing before its last statement (it reads nothing, its writes staged: notifications' usual
batch) needs no transaction at all: that statement is its own. Begun ahead, its transaction would cost the
``COMMIT``. So the runtime asks for the transaction only when most batches lately read first (``lazy``
otherwise: the first statement begins it, ``StagingConnection``), and primes the next one only then.

The careful passes of a batch (savepoints after a failure) do not use it: asyncpg's savepoints need a
transaction asyncpg began itself.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from shared.persistence.db import TRANSIENT_DB_ERRORS

#: how long a begun transaction may wait for its batch before it is begun again (``now()``'s staleness)
MAX_AGE_S = 0.1


class PrimedConnection:
    """One pooled connection, held between batches with a transaction begun for the next one."""

    def __init__(self, pool: asyncpg.Pool, *, acquire_timeout_s: float, max_age_s: float = MAX_AGE_S) -> None:
        self.pool = pool
        self.acquire_timeout_s = acquire_timeout_s
        self.max_age_s = max_age_s
        self._conn: PoolConnectionProxy | None = None
        self._begun_at: float | None = None  # when the open transaction began; None: none is open
        #: whether a block's commit begins the next block's transaction (set by the caller as it learns)
        self.prime_next = True

    @contextlib.asynccontextmanager
    async def transaction(self, *, lazy: bool = False) -> AsyncIterator[PoolConnectionProxy]:
        """A transaction on the held connection: committed (and the next one begun, if ``prime_next``) when the
        block ends, rolled back if it raises. ``lazy``: none is begun for the block, unless one was begun ahead;
        a block that began none ran its statement as its own transaction, and there is nothing to commit."""
        conn = await (self._held() if lazy else self._begun())
        try:
            yield conn
        except BaseException:
            await self._roll_back()
            raise
        self._begun_at = None
        if conn.is_in_transaction():
            command: str | None = "COMMIT; BEGIN" if self.prime_next else "COMMIT"
        else:
            command = "BEGIN" if self.prime_next else None
        if command is None:
            return
        try:
            await conn.execute(command)
        except BaseException:
            await self._drop()  # a failed COMMIT rolled back; a lost answer leaves the outcome to the inbox
            raise
        if self.prime_next:
            self._begun_at = time.monotonic()

    async def close(self) -> None:
        """Roll back the transaction begun ahead and give the connection back to the pool."""
        if self._conn is not None and _alive(self._conn):
            with contextlib.suppress(Exception):
                await self._conn.execute("ROLLBACK")
        conn, self._conn, self._begun_at = self._conn, None, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await self.pool.release(conn, timeout=5)

    async def _begun(self) -> PoolConnectionProxy:
        conn = self._conn
        if conn is not None and _alive(conn) and self._fresh(conn):
            return conn
        try:
            return await self._begin()
        except TRANSIENT_DB_ERRORS:  # the held connection died while idle: one new connection, then it is an outage
            await self._drop()
            return await self._begin()

    async def _held(self) -> PoolConnectionProxy:
        """The held connection, with a transaction begun ahead if it is fresh, else none."""
        conn = self._conn
        if conn is None or not _alive(conn):
            await self._drop()
            conn = self._conn = await self.pool.acquire(timeout=self.acquire_timeout_s)
        if conn.is_in_transaction() and not self._fresh(conn):
            try:
                await conn.execute("ROLLBACK")
            except TRANSIENT_DB_ERRORS:
                await self._drop()
                return await self._held()
            self._begun_at = None
        return conn

    def _fresh(self, conn: PoolConnectionProxy) -> bool:
        return (self._begun_at is not None and conn.is_in_transaction()
                and time.monotonic() - self._begun_at <= self.max_age_s)

    async def _begin(self) -> PoolConnectionProxy:
        if self._conn is None or not _alive(self._conn):
            await self._drop()
            self._conn = await self.pool.acquire(timeout=self.acquire_timeout_s)
        conn = self._conn
        self._begun_at = None
        await conn.execute("ROLLBACK; BEGIN" if conn.is_in_transaction() else "BEGIN")
        self._begun_at = time.monotonic()
        return conn

    async def _roll_back(self) -> None:
        self._begun_at = None
        conn = self._conn
        if conn is None or not _alive(conn):
            await self._drop()
            return
        if not conn.is_in_transaction():  # a statement that was its own transaction failed: nothing to undo
            return
        try:
            await conn.execute("ROLLBACK")
        except Exception:
            await self._drop()

    async def _drop(self) -> None:
        """Let go of the connection, closed: whatever state it is in goes with it."""
        conn, self._conn, self._begun_at = self._conn, None, None
        if conn is None:
            return
        with contextlib.suppress(Exception):
            conn.terminate()
        with contextlib.suppress(Exception):
            await self.pool.release(conn, timeout=5)


def _alive(conn: PoolConnectionProxy) -> bool:
    """Whether the connection is still open: asyncpg detaches a pool's proxy from a connection that died."""
    try:
        return not conn.is_closed()
    except asyncpg.InterfaceError:
        return False
