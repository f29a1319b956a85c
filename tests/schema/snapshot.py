"""The schema a service's migrations produce, as stable text: ``python -m tests.schema.snapshot write``
rewrites the committed snapshots after an intended migration change."""

from __future__ import annotations

import asyncio
import sys
import uuid
from pathlib import Path

import asyncpg

HERE = Path(__file__).parent
SERVICES = ("catalog", "inventory", "orders", "notifications")

QUERIES = {
    "column": """SELECT table_name || '.' || column_name || ' ' || data_type || ' ' ||
                        CASE WHEN is_nullable = 'YES' THEN 'null' ELSE 'not null' END
                 FROM information_schema.columns WHERE table_schema = 'public'""",
    "constraint": """SELECT conrelid::regclass::text || ' ' || conname || ' ' || pg_get_constraintdef(oid)
                     FROM pg_constraint WHERE connamespace = 'public'::regnamespace""",
    "index": "SELECT indexdef FROM pg_indexes WHERE schemaname = 'public'",
    "trigger": """SELECT event_object_table || ' ' || trigger_name || ' ' || event_manipulation
                  FROM information_schema.triggers WHERE trigger_schema = 'public'""",
}


async def describe(dsn: str) -> str:
    conn = await asyncpg.connect(dsn)
    try:
        lines = []
        for kind, query in QUERIES.items():
            lines += sorted(f"{kind} {row[0]}" for row in await conn.fetch(query))
        return "\n".join(lines) + "\n"
    finally:
        await conn.close()


def path_of(service: str) -> Path:
    return HERE / f"{service}.txt"


async def _write(server_url: str) -> None:
    from devstack.stack import with_database
    from shared.persistence.migrate import migrate

    for service in SERVICES:
        name = f"snapshot_{service}_{uuid.uuid4().hex[:6]}"
        admin = await asyncpg.connect(server_url)
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            dsn = with_database(server_url, name)
            await migrate(dsn, Path(__file__).parents[2] / "services" / service / "migrations")
            path_of(service).write_text(await describe(dsn))
            print(f"wrote {path_of(service)}")
        finally:
            await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            await admin.close()


if __name__ == "__main__" and sys.argv[1:] == ["write"]:
    import tempfile

    from devstack.postgres import EmbeddedPostgres

    server = EmbeddedPostgres(Path(tempfile.mkdtemp())).start()
    try:
        asyncio.run(_write(server.url))
    finally:
        server.stop()
