"""The consumer runtime and the outbox relay against real PostgreSQL (and Kafka for the relay).

These prove the platform's delivery guarantee, at-least-once delivery with exactly-once
effects, on which every rule that says "once" (R08, R11, R22) relies.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import Any

import asyncpg
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord
from aiokafka.errors import OutOfOrderSequenceNumber
from prometheus_client import REGISTRY
from structlog.testing import capture_logs

from shared.contract.catalog import (
    RegisterSeller,
    SellerEligibilityChanged,
    SellerRegistered,
    SetSellerEligibility,
)
from shared.contract.envelope import Envelope
from shared.contract.topics import CATALOG_COMMANDS_TOPIC, CATALOG_EVENTS_TOPIC
from shared.domain import Rejection
from shared.messaging.consumer import ConsumerRuntime
from shared.messaging.decoding import Message, Subscription
from shared.messaging.outbox import OutboxRelay
from shared.persistence.db import create_pool
from shared.persistence.primed import MAX_AGE_S
from shared.persistence.uow import OutboxRecord, UnitOfWork

pytestmark = pytest.mark.integration


def command(seller_id: str, event_id: uuid.UUID | None = None) -> bytes:
    env = Envelope(event_id=event_id or uuid.uuid4(), type="RegisterSeller", producer="test",
                   payload=RegisterSeller(seller_id=seller_id, region="US", backorder_eligible=True))
    return env.model_dump_json().encode()


def record(value: bytes, offset: int) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord("catalog.commands", 0, offset, 0, 0, b"k", value, None, 1, len(value), ())


class Effects:
    """A handler whose effect is a row per seller, plus a way to make it fail."""

    def __init__(self) -> None:
        self.fail_for: set[str] = set()
        self.reject_for: set[str] = set()
        self.calls: list[str] = []
        self.committed: list[str] = []  # what the handler counted after commit (as a metric is)

    async def handle(self, cmd: RegisterSeller, uow: UnitOfWork) -> None:
        self.calls.append(cmd.seller_id)
        uow.after_commit(lambda: self.committed.append(cmd.seller_id))
        await uow.conn.execute("INSERT INTO effects (seller_id) VALUES ($1)", cmd.seller_id)
        uow.emit(CATALOG_EVENTS_TOPIC, SellerRegistered(seller_id=cmd.seller_id, region="US", timezone="UTC",
                                                        backorder_eligible=True), key=cmd.seller_id)
        if cmd.seller_id in self.reject_for:
            raise Rejection("seller_not_eligible", "not today")
        if cmd.seller_id in self.fail_for:
            raise RuntimeError("boom")


@pytest.fixture
async def pool(fresh_db: Any) -> Any:
    dsn = await fresh_db("catalog")
    db = await create_pool(dsn, max_size=4)
    await db.execute("CREATE TABLE effects (seller_id text NOT NULL)")
    yield db
    for held in _RUNTIMES:  # each holds a connection between batches
        await held.close()
    _RUNTIMES.clear()
    await db.close()


_RUNTIMES: list[ConsumerRuntime[UnitOfWork]] = []


def runtime(pool: asyncpg.Pool, effects: Effects, **kw: Any) -> ConsumerRuntime[UnitOfWork]:
    sub = Subscription(CATALOG_COMMANDS_TOPIC, handlers={"RegisterSeller": effects.handle},
                       rejections=CATALOG_EVENTS_TOPIC)
    made: ConsumerRuntime[UnitOfWork] = ConsumerRuntime(
        group_id="test", subscriptions=[sub], pool=pool, uow_factory=lambda conn: UnitOfWork(conn, "test"),
        retry_base_s=0.001, **kw)
    _RUNTIMES.append(made)
    return made


async def outbox(pool: asyncpg.Pool) -> list[dict[str, Any]]:
    rows = await pool.fetch("SELECT topic, message_type, value FROM outbox ORDER BY id")
    return [{"topic": r["topic"], "type": r["message_type"], "value": orjson.loads(r["value"])} for r in rows]


async def test_redelivered_message_has_no_second_effect(pool: asyncpg.Pool) -> None:
    effects = Effects()
    rt = runtime(pool, effects)
    event_id = uuid.uuid4()
    await rt.handle_records([record(command("s1", event_id), 0)])
    await rt.handle_records([record(command("s1", event_id), 0), record(command("s1", event_id), 1)])
    assert await pool.fetchval("SELECT count(*) FROM effects") == 1
    assert [o["type"] for o in await outbox(pool)] == ["SellerRegistered"]


async def test_a_batch_mixing_handled_and_new_messages_has_each_effect_once(pool: asyncpg.Pool) -> None:
    # the handler fails on a second effect (as one inserting a new order does): the first pass, which
    # claims at the end, rolls back, and the message handled before is skipped, never dead-lettered
    await pool.execute("CREATE UNIQUE INDEX ON effects (seller_id)")
    effects = Effects()
    rt = runtime(pool, effects)
    old = command("s1")
    await rt.handle_records([record(old, 0)])
    await rt.handle_records([record(command("s0"), 1), record(old, 2), record(command("s2"), 3)])
    assert sorted(r["seller_id"] for r in await pool.fetch("SELECT seller_id FROM effects")) == ["s0", "s1", "s2"]
    assert [m["value"]["payload"]["seller_id"] for m in await outbox(pool)] == ["s1", "s0", "s2"]
    assert await pool.fetchval("SELECT count(*) FROM inbox") == 3


def handled(outcome: str) -> float:
    labels = {"consumer": "test", "topic": "catalog.commands", "type": "RegisterSeller", "outcome": outcome}
    return REGISTRY.get_sample_value("backorder_messages_handled_total", labels) or 0.0


async def test_a_pass_rolled_back_counts_no_message_as_handled(pool: asyncpg.Pool) -> None:
    rt = runtime(pool, Effects())
    before = handled("ok")
    old = command("s1")
    await rt.handle_records([record(old, 0)])
    await rt.handle_records([record(old, 1), record(command("s2"), 2)])  # the first pass is rolled back
    assert handled("ok") - before == 2  # s1 once, s2 once


async def test_a_batch_done_again_runs_its_after_commit_actions_once_and_a_failed_messages_never(
        pool: asyncpg.Pool) -> None:
    effects = Effects()
    effects.fail_for = {"s2"}
    rt = runtime(pool, effects)
    await rt.handle_records([record(command("s1"), 0), record(command("s2"), 1), record(command("s3"), 2)])
    assert effects.calls.count("s1") == 2  # the first pass was rolled back and the batch done again
    assert effects.committed == ["s1", "s3"]  # counted once each; s2, dead-lettered, never


async def test_a_failing_message_behind_a_redelivered_one_gets_its_attempts_and_no_more(pool: asyncpg.Pool) -> None:
    effects = Effects()
    effects.fail_for.add("bad")
    rt = runtime(pool, effects, max_attempts=3)
    old = command("s1")
    await rt.handle_records([record(old, 0)])
    await rt.handle_records([record(command("s0"), 1), record(old, 2), record(command("bad"), 3)])
    assert effects.calls.count("bad") == 3  # the first pass's attempt counts, wherever the run lost a message
    [letter] = [m for m in await outbox(pool) if m["topic"] == "catalog.commands.dlq"]
    assert letter["value"]["attempts"] == 3


async def test_rejection_emits_command_rejected_and_nothing_else(pool: asyncpg.Pool) -> None:
    effects = Effects()
    effects.reject_for.add("s2")
    rt = runtime(pool, effects)
    sent = command("s2")
    await rt.handle_records([record(sent, 0)])
    assert await pool.fetchval("SELECT count(*) FROM effects") == 0
    [rejected] = await outbox(pool)
    assert rejected["type"] == "CommandRejected"
    assert rejected["value"]["payload"]["reason"] == "seller_not_eligible"
    assert rejected["value"]["payload"]["command_id"] == orjson.loads(sent)["event_id"]
    assert rejected["value"]["causation_id"] == orjson.loads(sent)["event_id"]


async def test_a_rejection_inside_a_batch_rejects_only_that_command(pool: asyncpg.Pool) -> None:
    effects = Effects()
    effects.reject_for.add("no")
    await runtime(pool, effects).handle_records([record(command(s), n) for n, s in enumerate(["a", "no", "b"])])
    assert sorted(r["seller_id"] for r in await pool.fetch("SELECT seller_id FROM effects")) == ["a", "b"]
    assert [m["type"] for m in await outbox(pool)] == ["SellerRegistered", "CommandRejected", "SellerRegistered"]


async def test_a_topics_messages_run_together_and_types_sharing_a_batch_handler_share_their_runs(
        pool: asyncpg.Pool) -> None:
    runs: list[list[str]] = []

    async def batch(messages: list[Message[Any]], uow: UnitOfWork) -> None:
        runs.append([f"{m.cause.message_type}:{m.payload.seller_id}" for m in messages])

    effects = Effects()
    subscriptions = [
        Subscription(CATALOG_COMMANDS_TOPIC, handlers={"RegisterSeller": effects.handle},
                     rejections=CATALOG_EVENTS_TOPIC),
        Subscription(CATALOG_EVENTS_TOPIC,
                     batch_handlers={"SellerRegistered": batch, "SellerEligibilityChanged": batch}),
    ]
    rt: ConsumerRuntime[UnitOfWork] = ConsumerRuntime(group_id="test", subscriptions=subscriptions, pool=pool,
                                                      uow_factory=lambda conn: UnitOfWork(conn, "test"))
    _RUNTIMES.append(rt)

    def event(payload: Any, partition: int, offset: int) -> ConsumerRecord[bytes, bytes]:
        value = Envelope(type=payload.message_type, producer="test", payload=payload).model_dump_json().encode()
        return ConsumerRecord("catalog.events", partition, offset, 0, 0, b"k", value, None, 1, len(value), ())

    # partitions arrive interleaved with another topic's: each keeps its order, the topic's messages run as one
    await rt.handle_records([
        event(SellerRegistered(seller_id="a", region="US", timezone="UTC", backorder_eligible=True), 0, 0),
        record(command("x"), 0),
        event(SellerRegistered(seller_id="b", region="US", timezone="UTC", backorder_eligible=True), 1, 0),
        event(SellerEligibilityChanged(seller_id="a", backorder_eligible=False), 0, 1),
        record(command("y"), 1),
    ])
    assert runs == [["SellerRegistered:a", "SellerRegistered:b", "SellerEligibilityChanged:a"]]
    assert effects.calls == ["x", "y"]


async def test_poison_message_is_retried_then_dead_lettered_and_the_batch_goes_on(pool: asyncpg.Pool) -> None:
    effects = Effects()
    effects.fail_for.add("bad")
    rt = runtime(pool, effects, max_attempts=3)
    poison = command("bad")
    await rt.handle_records([record(command("good-1"), 0), record(poison, 1), record(command("good-2"), 2)])
    assert effects.calls.count("bad") == 3
    assert sorted(r["seller_id"] for r in await pool.fetch("SELECT seller_id FROM effects")) == ["good-1", "good-2"]
    messages = await outbox(pool)
    [letter] = [m for m in messages if m["topic"] == "catalog.commands.dlq"]
    assert letter["value"]["reason"] == "handler_failed" and letter["value"]["attempts"] == 3
    assert "boom" in letter["value"]["error"]
    # a redelivery of the poison message is not retried again: it was dead-lettered once, for good (the
    # batch's first pass, which claims at the end, runs it once and is rolled back)
    await rt.handle_records([record(poison, 1)])
    assert effects.calls.count("bad") == 4
    assert len([m for m in await outbox(pool) if m["topic"] == "catalog.commands.dlq"]) == 1


async def test_undecodable_message_is_dead_lettered_once_with_its_bytes(pool: asyncpg.Pool) -> None:
    rt = runtime(pool, Effects())
    await rt.handle_records([record(b"\x00garbage", 7)])
    await rt.handle_records([record(b"\x00garbage", 7)])  # redelivered: same position, one dead letter
    [letter] = await outbox(pool)
    assert letter["topic"] == "catalog.commands.dlq"
    assert letter["value"]["reason"] == "not_json" and letter["value"]["offset"] == 7


async def test_database_failure_rolls_back_the_whole_batch(pool: asyncpg.Pool) -> None:
    effects = Effects()
    rt = runtime(pool, effects)

    async def broken(cmd: RegisterSeller, uow: UnitOfWork) -> None:
        await effects.handle(cmd, uow)
        raise asyncpg.PostgresConnectionError("connection lost")

    rt.subscriptions[0].handlers["RegisterSeller"] = broken  # type: ignore[index]
    with pytest.raises(asyncpg.PostgresConnectionError):
        await rt.handle_records([record(command("s3"), 0)])
    assert await pool.fetchval("SELECT count(*) FROM effects") == 0
    assert await pool.fetchval("SELECT count(*) FROM inbox") == 0  # it will be handled on redelivery
    assert await outbox(pool) == []


async def test_a_batch_with_nothing_for_the_group_neither_resets_the_backoff_nor_reports_the_database_up(
        pool: asyncpg.Pool) -> None:
    """Between two failed batches the consumer may be handed records this group skips (types it has no
    handler for): they take no transaction, so they say nothing about the database. The fault suite's
    database restart caught the backoff starting over at 0.2 s that way, and readiness flapping to ready."""
    effects = Effects()
    states: list[bool] = []
    rt = runtime(pool, effects, on_db_state=states.append)

    async def database_down(cmd: RegisterSeller, uow: UnitOfWork) -> None:
        raise asyncpg.PostgresConnectionError("connection lost")

    rt.subscriptions[0].handlers["RegisterSeller"] = database_down  # type: ignore[index]
    skipped = Envelope(type="SetSellerEligibility", producer="test",
                       payload=SetSellerEligibility(seller_id="s1", backorder_eligible=False))
    with capture_logs() as logs:
        for batch in ([command("s1")], [skipped.model_dump_json().encode()], [command("s1")]):
            with contextlib.suppress(asyncpg.PostgresConnectionError):
                await rt.handle_records([record(value, 0) for value in batch])
    delays = [e["retry_in_s"] for e in logs if e["event"] == "batch_retry_database_unavailable"]
    assert delays == [0.2, 0.4], delays
    assert states == [False, False]
    rt.subscriptions[0].handlers["RegisterSeller"] = effects.handle  # type: ignore[index]
    await rt.handle_records([record(command("s2"), 1)])
    assert states == [False, False, True]


async def test_outbox_relay_publishes_committed_rows_in_order_and_marks_them(pool: asyncpg.Pool, stack: Any) -> None:
    effects = Effects()
    rt = runtime(pool, effects)
    await rt.handle_records([record(command(f"seller-{n}"), n) for n in range(20)])
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap, acks="all")
    await producer.start()

    async def send(topic: str, value: bytes, key: bytes | None, headers: list[tuple[str, bytes]]) -> Any:
        return await producer.send(topic, value, key=key, headers=headers)

    relay = OutboxRelay(pool, send, batch_size=8)
    try:
        published = [await relay.publish_once() for _ in range(4)]
    finally:
        await relay.stop()
        await producer.stop()
    assert published == [8, 8, 4, 0]
    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0

    consumer = AIOKafkaConsumer("catalog.events", bootstrap_servers=stack.kafka_bootstrap,
                                auto_offset_reset="earliest", enable_auto_commit=False, group_id=None)
    await consumer.start()
    try:
        seen: list[str] = []
        for _ in range(50):
            for records in (await consumer.getmany(timeout_ms=200)).values():
                seen += [orjson.loads(r.value)["payload"]["seller_id"] for r in records]
            if len(seen) >= 20:
                break
            await asyncio.sleep(0)
    finally:
        await consumer.stop()
    assert sorted(seen) == sorted(f"seller-{n}" for n in range(20))


def acknowledged(sent: list[bytes]) -> Any:
    """A send that the broker acknowledges at once, recording what it was given."""

    async def send(topic: str, value: bytes, key: bytes | None, headers: list[tuple[str, bytes]]) -> Any:
        sent.append(value)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future

    return send


async def unpublished(pool: asyncpg.Pool) -> int:
    return int(await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL"))


async def test_outbox_relay_failure_before_marking_publishes_again(pool: asyncpg.Pool) -> None:
    await runtime(pool, Effects()).handle_records([record(command("s9"), 0)])
    sent: list[bytes] = []

    async def failing_send(topic: str, value: bytes, key: bytes | None, headers: list[tuple[str, bytes]]) -> Any:
        sent.append(value)
        raise ConnectionError("broker went away after the send")

    failing = OutboxRelay(pool, failing_send)
    with pytest.raises(ConnectionError):
        await failing.publish_once()
    assert await unpublished(pool) == 1

    relay = OutboxRelay(pool, acknowledged(sent))  # the failed relay let go of the lead: another takes it
    try:
        assert await relay.publish_once() == 1
    finally:
        await relay.stop()
        await failing.stop()
    assert sent[0] == sent[1]  # the same message, same event id: consumers deduplicate it
    assert await unpublished(pool) == 0


async def test_outbox_relay_one_relay_leads_and_another_takes_over_when_it_stops(pool: asyncpg.Pool) -> None:
    rt = runtime(pool, Effects())
    await rt.handle_records([record(command("s1"), 0)])
    first_sent: list[bytes] = []
    second_sent: list[bytes] = []
    first, second = OutboxRelay(pool, acknowledged(first_sent)), OutboxRelay(pool, acknowledged(second_sent))
    try:
        assert await first.publish_once() == 1
        assert await unpublished(pool) == 0  # marked once acknowledged
        await rt.handle_records([record(command("s2"), 1)])
        assert await second.publish_once() == 0  # the first leads: the second publishes nothing
        assert await first.publish_once() == 1
        await first.stop()  # gives up the lead
        await rt.handle_records([record(command("s3"), 2)])
        assert await second.publish_once() == 1
    finally:
        await first.stop()
        await second.stop()
    sellers = [orjson.loads(v)["payload"]["seller_id"] for v in first_sent + second_sent]
    assert sellers == ["s1", "s2", "s3"]  # each once, in order
    assert await unpublished(pool) == 0


async def test_outbox_relay_sends_what_a_transaction_wrote_unread_and_the_next_transaction_marks_it(
        pool: asyncpg.Pool) -> None:
    sent: list[bytes] = []
    relay = OutboxRelay(pool, acknowledged(sent))
    rt = runtime(pool, Effects(), relay=relay)
    try:
        assert await relay.publish_once() == 0  # takes the lead; the table is empty
        await rt.handle_records([record(command("s1"), 0)])  # committed and handed over
        assert await relay.publish_once(sweep=False, mark=False) == 1
        assert await unpublished(pool) == 1  # acknowledged; its mark waits for the next transaction
        await rt.handle_records([record(command("s2"), 1)])  # marks s1 in the statement that writes s2
        assert await pool.fetchval("""SELECT count(*) FROM outbox WHERE published_at IS NULL
                                      AND value::text LIKE '%s1%'""") == 0
        assert await relay.publish_once(sweep=False, mark=True) == 1
    finally:
        await relay.stop()
    assert [orjson.loads(v)["payload"]["seller_id"] for v in sent] == ["s1", "s2"]
    assert await unpublished(pool) == 0


async def test_outbox_relay_a_row_swept_before_its_hand_over_goes_out_once(pool: asyncpg.Pool) -> None:
    # the runtime hands a row over after its commit returns; a sweep in between reads it from the table
    await runtime(pool, Effects()).handle_records([record(command("s1"), 0)])
    sent: list[bytes] = []
    relay = OutboxRelay(pool, acknowledged(sent))
    try:
        assert await relay.publish_once(sweep=True, mark=False) == 1
        row = await pool.fetchrow("SELECT id, event_id, topic, message_key, message_type, value FROM outbox")
        late = OutboxRecord(row["event_id"], row["topic"], row["message_key"], row["message_type"], row["value"], {})
        relay.settle([], [], [(row["id"], late)])
        assert await relay.publish_once(sweep=False, mark=True) == 0
    finally:
        await relay.stop()
    assert len(sent) == 1
    assert await unpublished(pool) == 0


async def held_sessions(pool: asyncpg.Pool) -> list[asyncpg.Record]:
    """The other sessions of the test database: the runtime's, between batches."""
    return await pool.fetch("""SELECT pid, state, backend_xid, backend_xmin FROM pg_stat_activity
                               WHERE datname = current_database() AND pid <> pg_backend_pid()
                                 AND state = 'idle in transaction'""")


async def test_a_batch_rides_on_the_transaction_the_last_commit_began_and_holds_nothing_while_it_waits(
        pool: asyncpg.Pool) -> None:
    rt = runtime(pool, Effects())
    await rt.handle_records([record(command("s1"), 0)])
    [waiting] = await held_sessions(pool)  # begun by "COMMIT; BEGIN": no snapshot, no transaction id
    assert (waiting["backend_xid"], waiting["backend_xmin"]) == (None, None)
    await rt.handle_records([record(command("s2"), 1)])
    assert [r["pid"] for r in await held_sessions(pool)] == [waiting["pid"]]
    assert await pool.fetchval("SELECT count(*) FROM effects") == 2


async def test_a_batch_after_a_pause_sees_a_fresh_now_not_its_transactions_early_start(pool: asyncpg.Pool) -> None:
    rt = runtime(pool, Effects())
    await rt.handle_records([record(command("s1"), 0)])
    await asyncio.sleep(0.3)  # the pause is what is tested: longer than a begun transaction may wait
    before = await pool.fetchval("SELECT clock_timestamp()")
    await rt.handle_records([record(command("s2"), 1)])
    created = await pool.fetchval("SELECT max(created_at) FROM outbox")
    assert created >= before


async def test_a_batch_after_its_held_connection_was_ended_takes_a_new_one(pool: asyncpg.Pool) -> None:
    # what a server with idle_in_transaction_session_timeout does to the connection held between batches
    rt = runtime(pool, Effects())
    await rt.handle_records([record(command("s1"), 0)])
    [waiting] = await held_sessions(pool)
    assert await pool.fetchval("SELECT pg_terminate_backend($1, 5000)", waiting["pid"])  # waits for its end
    await asyncio.sleep(MAX_AGE_S * 1.5)  # the server ends only a session that waited
    await rt.handle_records([record(command("s2"), 1)])
    assert sorted(r["seller_id"] for r in await pool.fetch("SELECT seller_id FROM effects")) == ["s1", "s2"]


async def test_outbox_relay_a_crash_before_the_deferred_mark_sends_the_rows_again_with_their_event_ids(
        pool: asyncpg.Pool) -> None:
    sent: list[bytes] = []
    crashed = OutboxRelay(pool, acknowledged(sent))
    rt = runtime(pool, Effects(), relay=crashed)
    assert await crashed.publish_once() == 0  # leads
    await rt.handle_records([record(command("s1"), 0)])
    assert await crashed.publish_once(sweep=False, mark=False) == 1  # acknowledged, its mark deferred
    await pool.execute("""SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity
                          WHERE datname = current_database() AND pid <> pg_backend_pid()""")  # the process dies
    # (the timeout makes each call wait for its backend to end: with it the relay's advisory lock is gone)
    successor = OutboxRelay(pool, acknowledged(sent))
    try:
        assert await successor.publish_once() == 1
    finally:
        await successor.stop()
    assert len(sent) == 2 and sent[0] == sent[1]  # the same event id: each consumer's inbox drops the second
    assert await unpublished(pool) == 0


async def test_outbox_relay_renews_a_producer_that_a_refused_batch_left_unable_to_send(pool: asyncpg.Pool) -> None:
    # aiokafka's idempotent producer keeps a refused batch's sequence numbers: every later send to the
    # partition fails with OutOfOrderSequenceNumber until a new producer (a new producer id) takes over
    await runtime(pool, Effects()).handle_records([record(command("s1"), 0)])
    sent: list[bytes] = []
    producers = ["spent"]

    async def send(topic: str, value: bytes, key: bytes | None, headers: list[tuple[str, bytes]]) -> Any:
        if producers[-1] == "spent":
            raise OutOfOrderSequenceNumber("the broker refused this producer's sequence")
        return await acknowledged(sent)(topic, value, key, headers)

    async def renew(failure: BaseException) -> bool:
        producers.append("new")
        return True

    relay = OutboxRelay(pool, send, renew_producer=renew, poll_s=0.05)
    task = asyncio.create_task(relay.run())
    try:
        for _ in range(100):
            if await unpublished(pool) == 0:
                break
            await asyncio.sleep(0.05)
    finally:
        await relay.stop()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert producers == ["spent", "new"] and len(sent) == 1
    assert await unpublished(pool) == 0
