"""Migrations produce the expected schema, apply once under concurrency, and refuse edited history."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from shared.persistence.migrate import MESSAGING_MIGRATIONS, Migration, MigrationDrift, apply, discover, migrate
from tests.schema.snapshot import SERVICES, describe, path_of

pytestmark = pytest.mark.integration
ROOT = Path(__file__).parents[2]


@pytest.mark.parametrize("service", SERVICES)
async def test_migrations_produce_the_expected_schema(service: str, fresh_db: Any) -> None:
    """If this fails after an intended migration change: python -m tests.schema.snapshot write"""
    dsn = await fresh_db(service)
    assert await describe(dsn) == path_of(service).read_text()


async def test_concurrent_instances_apply_each_migration_once(fresh_db: Any, postgres_server: str) -> None:
    dsn = await fresh_db("catalog")
    conn = await asyncpg.connect(dsn)
    await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    await conn.close()
    migrations = ROOT / "services" / "inventory" / "migrations"
    results = await asyncio.gather(*(migrate(dsn, migrations) for _ in range(6)))
    applied = [version for result in results for version in result]
    expected = [m.version for m in discover(("messaging", MESSAGING_MIGRATIONS), ("service", migrations))]
    assert sorted(applied) == sorted(expected)  # every migration applied by exactly one instance


async def test_an_applied_migration_that_was_edited_is_refused(fresh_db: Any) -> None:
    conn = await asyncpg.connect(await fresh_db("orders"))
    try:
        edited = Migration("messaging/0001_inbox_outbox", "SELECT 1")
        with pytest.raises(MigrationDrift):
            await apply(conn, [edited])
    finally:
        await conn.close()
