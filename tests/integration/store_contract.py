"""Run a store contract's script (``tests/unit/<service>/store_contract.py``) on a fresh database of a service."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from shared.persistence.db import Conn, create_pool


async def run_on_postgres(dsn: str, script: Callable[[Conn], Awaitable[list[Any]]]) -> list[Any]:
    """``script`` on one connection of a new pool, in one transaction; what it saw."""
    pool = await create_pool(dsn, min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn, conn.transaction():
            return await script(conn)
    finally:
        await pool.close()
