"""Staged writes (``shared/persistence/staging.py``) through the consumer runtime, against real PostgreSQL.

A handler's writes ride the batch's outbox statement; a later reader sees them; one that the database refuses
is found and dead-lettered alone by the careful pass; one staged in a savepoint that is rolled back is dropped.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import orjson
import pytest

from shared.contract.catalog import RegisterSeller
from shared.contract.topics import CATALOG_COMMANDS_TOPIC, CATALOG_EVENTS_TOPIC
from shared.domain import Rejection
from shared.messaging.consumer import ConsumerRuntime
from shared.messaging.decoding import Subscription
from shared.persistence.db import create_pool
from shared.persistence.staging import StagedWrite, stage_or_send
from shared.persistence.uow import UnitOfWork
from tests.integration.test_messaging_runtime import command, record

pytestmark = pytest.mark.integration

STAGE_EFFECT = """INSERT INTO effects (seller_id, region)
SELECT seller_id, region FROM jsonb_to_recordset($1::jsonb) AS r(seller_id text, region text)"""


class Handler:
    """Stages a row per seller; reads how many rows it saw first; rejects or fails on demand."""

    def __init__(self) -> None:
        self.seen: list[int] = []
        self.reject_for: set[str] = set()
        self.read_first = False

    async def handle(self, cmd: RegisterSeller, uow: UnitOfWork) -> None:
        if self.read_first:
            self.seen.append(await uow.conn.fetchval("SELECT count(*) FROM effects"))
        await stage_or_send(uow.conn)(StagedWrite(STAGE_EFFECT, [{"seller_id": cmd.seller_id, "region": cmd.region}]))
        if cmd.seller_id in self.reject_for:
            raise Rejection("seller_not_eligible", "not today")


@pytest.fixture
async def pool(fresh_db: Any) -> AsyncIterator[asyncpg.Pool]:
    db = await create_pool(await fresh_db("catalog"), max_size=4)
    # a seller named "refused-..." is refused by the database, not by the handler
    await db.execute("CREATE TABLE effects (seller_id text PRIMARY KEY CHECK (seller_id NOT LIKE 'refused%'), "
                     "region text)")
    yield db
    for held in _RUNTIMES:
        await held.close()
    _RUNTIMES.clear()
    await db.close()


_RUNTIMES: list[ConsumerRuntime[UnitOfWork]] = []


def runtime(pool: asyncpg.Pool, handler: Handler, statements: list[str] | None = None) -> ConsumerRuntime[UnitOfWork]:
    counted: set[int] = set()

    def uow(conn: Any) -> UnitOfWork:
        if statements is not None and id(conn) not in counted:
            conn.add_query_logger(lambda q: statements.append(q.query.split(None, 1)[0]))
            counted.add(id(conn))
        return UnitOfWork(conn, "test")

    sub = Subscription(CATALOG_COMMANDS_TOPIC, handlers={"RegisterSeller": handler.handle},
                       rejections=CATALOG_EVENTS_TOPIC)
    made: ConsumerRuntime[UnitOfWork] = ConsumerRuntime(group_id="test", subscriptions=[sub], pool=pool,
                                                        uow_factory=uow, retry_base_s=0.001)
    _RUNTIMES.append(made)
    return made


async def effects(pool: asyncpg.Pool) -> list[str]:
    return [r["seller_id"] for r in await pool.fetch("SELECT seller_id FROM effects ORDER BY seller_id")]


async def topics(pool: asyncpg.Pool) -> list[tuple[str, str]]:
    rows = await pool.fetch("SELECT topic, value FROM outbox ORDER BY id")
    return [(r["topic"], orjson.loads(r["value"]).get("reason") or orjson.loads(r["value"])["type"]) for r in rows]


async def test_staged_writes_ride_the_outbox_statement_so_a_writing_batch_costs_two_round_trips(
        pool: asyncpg.Pool) -> None:
    statements: list[str] = []
    rt = runtime(pool, Handler(), statements)
    await rt.handle_records([record(command("s1"), 0)])  # (and asyncpg's first look at the types)
    await asyncio.sleep(0)  # asyncpg calls a query logger on the loop's next turn
    statements.clear()
    await rt.handle_records([record(command("s2"), 1), record(command("s3"), 2)])
    await asyncio.sleep(0)
    # the first batch's commit began this one's transaction. The first handler's write is sent before the second
    # handler runs; the second's rides the outbox statement, which also claims the inbox; then COMMIT; BEGIN
    assert statements == ["WITH", "WITH", "COMMIT;"]
    assert await effects(pool) == ["s1", "s2", "s3"]
    assert await pool.fetchval("SELECT count(*) FROM inbox") == 3


async def test_a_handler_reads_what_the_handler_before_it_staged(pool: asyncpg.Pool) -> None:
    handler = Handler()
    handler.read_first = True
    rt = runtime(pool, handler)
    await rt.handle_records([record(command("s1"), 0), record(command("s2"), 1), record(command("s3"), 2)])
    assert handler.seen == [0, 1, 2]
    assert await effects(pool) == ["s1", "s2", "s3"]


async def test_a_staged_write_the_database_refuses_dead_letters_its_message_alone_and_the_batch_goes_on(
        pool: asyncpg.Pool) -> None:
    rt = runtime(pool, Handler())
    await rt.handle_records([record(command("s1"), 0), record(command("refused-1"), 1),
                             record(command("s3"), 2)])
    assert await effects(pool) == ["s1", "s3"]
    [(topic, reason)] = await topics(pool)
    assert (topic, reason) == ("catalog.commands.dlq", "handler_failed")
    letter = orjson.loads(await pool.fetchval("SELECT value FROM outbox"))
    assert letter["attempts"] == 3 and "CheckViolation" in letter["error"]
    assert await pool.fetchval("SELECT count(*) FROM inbox") == 3


async def test_a_write_staged_by_a_rejected_command_is_dropped_with_its_savepoint(pool: asyncpg.Pool) -> None:
    handler = Handler()
    handler.reject_for.add("s2")
    rt = runtime(pool, handler)
    await rt.handle_records([record(command("s1"), 0), record(command("s2"), 1), record(command("s3"), 2)])
    assert await effects(pool) == ["s1", "s3"]
    assert await topics(pool) == [("catalog.events", "CommandRejected")]


async def test_a_staged_writes_check_sees_the_rows_it_returned_and_its_refusal_rolls_the_batch_back(
        pool: asyncpg.Pool) -> None:
    returned: list[list[dict[str, Any]]] = []

    def check(rows: list[dict[str, Any]]) -> None:
        returned.append(rows)
        if rows[0]["seller_id"] == "bad":
            raise AssertionError("not as decided")

    async def handle(cmd: RegisterSeller, uow: UnitOfWork) -> None:
        await stage_or_send(uow.conn)(StagedWrite(STAGE_EFFECT + " RETURNING seller_id, region",
                                                  [{"seller_id": cmd.seller_id, "region": cmd.region}], check))

    handler = Handler()
    handler.handle = handle  # type: ignore[method-assign]
    rt = runtime(pool, handler)
    await rt.handle_records([record(command("s1"), 0)])
    assert returned == [[{"seller_id": "s1", "region": "US"}]]
    await rt.handle_records([record(command("bad"), 1)])
    assert await effects(pool) == ["s1"]
    assert [t for t, _ in await topics(pool)] == ["catalog.commands.dlq"]


async def lazy(rt: ConsumerRuntime[UnitOfWork], offsets: range) -> None:
    """Batches that send nothing before their end, until the runtime stops beginning transactions ahead."""
    for offset in offsets:
        await rt.handle_records([record(command(f"warm-{offset}"), offset)])


async def test_a_batch_that_sends_nothing_before_its_end_is_one_statement_its_own_transaction(
        pool: asyncpg.Pool) -> None:
    statements: list[str] = []
    rt = runtime(pool, Handler(), statements)
    await lazy(rt, range(5))
    await asyncio.sleep(0)  # asyncpg calls a query logger on the loop's next turn
    # primed until most batches lately sent nothing first: the fourth commit no longer begins the next one
    assert statements[-4:] == ["COMMIT;", "WITH", "COMMIT", "WITH"]
    statements.clear()
    await rt.handle_records([record(command("s1"), 10), record(command("s2"), 11)])
    await asyncio.sleep(0)
    # the first handler's write is sent before the second runs (which begins the transaction), the second's
    # rides the outbox statement; then the commit. A batch of one handler: one statement, nothing else.
    assert statements == ["BEGIN", "WITH", "WITH", "COMMIT"]
    statements.clear()
    await rt.handle_records([record(command("s3"), 12)])
    await asyncio.sleep(0)
    assert statements == ["WITH"]
    assert [s for s in await effects(pool) if not s.startswith("warm-")] == ["s1", "s2", "s3"]
    assert await pool.fetchval("SELECT count(*) FROM inbox") == 8


async def test_a_batch_run_as_one_statement_applies_nothing_for_a_message_handled_before(pool: asyncpg.Pool) -> None:
    await pool.execute("ALTER TABLE effects DROP CONSTRAINT effects_pkey")  # a second write would go unseen
    rt = runtime(pool, Handler())
    await lazy(rt, range(5))
    old = command("s1")
    await rt.handle_records([record(old, 10)])
    # redelivered in a batch of its own: the statement claims nothing and writes nothing, and the batch is done
    # again claiming first, which skips it
    await rt.handle_records([record(old, 11)])
    await rt.handle_records([record(command("s2"), 12)])
    assert [s for s in await effects(pool) if not s.startswith("warm-")] == ["s1", "s2"]
    assert await pool.fetchval("SELECT count(*) FROM inbox") == 7


async def test_a_staged_write_refused_in_a_batch_run_as_one_statement_dead_letters_its_message_alone(
        pool: asyncpg.Pool) -> None:
    rt = runtime(pool, Handler())
    await lazy(rt, range(5))
    await rt.handle_records([record(command("refused-1"), 10)])
    await rt.handle_records([record(command("s2"), 11)])
    assert [s for s in await effects(pool) if not s.startswith("warm-")] == ["s2"]
    assert [t for t, _ in await topics(pool)] == ["catalog.commands.dlq"]
    assert await pool.fetchval("SELECT count(*) FROM inbox") == 7
