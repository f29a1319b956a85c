"""A small, strict migration runner: versioned ``NNNN_name.sql`` files applied in order.

Why not alembic or yoyo: both want a synchronous driver (SQLAlchemy or psycopg) beside
asyncpg, and we only need forward-only SQL files. This runner applies each file in its
own transaction under a PostgreSQL advisory lock (so several instances starting at once
apply each migration once), records a checksum, and refuses to start when an applied
file was edited afterwards.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import asyncpg

MESSAGING_MIGRATIONS = Path(__file__).parent / "migrations"
_LOCK_KEY = 0x6261636B6F72  # "backor"


@dataclass(frozen=True)
class Migration:
    version: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def discover(*directories: tuple[str, Path]) -> list[Migration]:
    """Migrations from ``(namespace, directory)`` pairs, in the order given, then by file name."""
    found: list[Migration] = []
    for namespace, directory in directories:
        for path in sorted(directory.glob("[0-9][0-9][0-9][0-9]_*.sql")):
            found.append(Migration(f"{namespace}/{path.stem}", path.read_text()))
    return found


class MigrationDrift(RuntimeError):
    pass


async def apply(conn: asyncpg.Connection, migrations: list[Migration]) -> list[str]:
    """Apply what is missing; return the versions applied now."""
    applied_now: list[str] = []
    # The lock comes first: two instances starting on a fresh database would otherwise race on
    # creating the bookkeeping table itself.
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
    try:
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   version text PRIMARY KEY, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        rows = await conn.fetch("SELECT version, checksum FROM schema_migrations")
        done = {r["version"]: r["checksum"] for r in rows}
        for migration in migrations:
            if migration.version in done:
                if done[migration.version] != migration.checksum:
                    raise MigrationDrift(f"{migration.version} changed after it was applied")
                continue
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, checksum) VALUES ($1, $2)",
                    migration.version,
                    migration.checksum,
                )
            applied_now.append(migration.version)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
    return applied_now


async def migrate(dsn: str, service_migrations: Path) -> list[str]:
    conn = await asyncpg.connect(dsn)
    try:
        return await apply(conn, discover(("messaging", MESSAGING_MIGRATIONS), ("service", service_migrations)))
    finally:
        await conn.close()
