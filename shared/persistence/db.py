"""asyncpg pools and the errors that mean "the database, not the message, is at fault"."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

import aiosql
import asyncpg
import orjson
from asyncpg.pool import PoolConnectionProxy

if TYPE_CHECKING:
    from shared.persistence.staging import StagingConnection

# Errors after which the same work may succeed later: retry the batch, never dead-letter it.
# Deadlocks and serialization failures belong here too: the whole transaction is rolled
# back and the batch redelivered, which is always safe thanks to the inbox.
TRANSIENT_DB_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.exceptions.DeadlockDetectedError,
    asyncpg.exceptions.SerializationError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.TooManyConnectionsError,
    ConnectionError,
    OSError,
    TimeoutError,
)


#: what the pool hands out: a connection, or the pool's proxy of one (both run the same queries), or a unit of
#: work's connection, which runs them too and also takes staged writes (``staging.py``)
Conn = Union[asyncpg.Connection, PoolConnectionProxy, "StagingConnection"]

#: the database is down or refused: ``TRANSIENT_DB_ERRORS`` and any server error
DATABASE_DOWN: tuple[type[BaseException], ...] = (*TRANSIENT_DB_ERRORS, asyncpg.PostgresError)


async def _init_connection(conn: asyncpg.Connection) -> None:
    for typename in ("json", "jsonb"):
        await conn.set_type_codec(
            typename, encoder=lambda v: orjson.dumps(v).decode(), decoder=orjson.loads, schema="pg_catalog"
        )


async def _keep_session(conn: asyncpg.Connection) -> None:
    """What a released connection needs beyond asyncpg's own clean-up (an open transaction rolled
    back, listeners dropped): nothing. The services change no session state (no ``SET``; the session
    advisory locks are the migration runner's, on a connection of its own, and the leading outbox relay's,
    which closes its connection when it lets go), so the default reset query (``RESET ALL``,
    ``UNLISTEN *``, ...) would be a round trip per release for nothing."""


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 8) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        dsn, min_size=min_size, max_size=max_size, init=_init_connection, command_timeout=30, reset=_keep_session
    )
    assert pool is not None
    return pool


def load_queries(sql_dir: Path) -> Any:
    """Named SQL queries (``-- name: ...``) from the ``.sql`` files in ``sql_dir``."""
    return aiosql.from_path(sql_dir, "asyncpg", mandatory_parameters=False)


async def fetch_all(query: Any, conn: Conn, **params: Any) -> list[asyncpg.Record]:
    """Run a plain (streaming) aiosql SELECT and return its rows as a list."""
    return [row async for row in query(conn, **params)]
