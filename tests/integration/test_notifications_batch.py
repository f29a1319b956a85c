"""A run of OrderPlaced and OrderAccepted handled at once stores and emits what one message at a time does.

The comparison is of two real databases' rows (the repository's SQL decides what a repeat stores), so
it needs PostgreSQL.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import orjson
import pytest

from services.notifications import handlers
from services.notifications.settings import NotificationsSettings
from services.notifications.unit_of_work import make_uow
from shared.cause import Cause
from shared.clock import SystemClock
from shared.messaging.decoding import Message
from shared.persistence.db import create_pool
from shared.persistence.uow import transaction
from tests.unit.notifications import factories as f

T0 = datetime(2026, 11, 23, 12, tzinfo=UTC)


@pytest.fixture
async def pools(fresh_db: Callable[[str], Any]) -> AsyncIterator[tuple[asyncpg.Pool, asyncpg.Pool]]:
    one = await create_pool(await fresh_db("notifications"), max_size=2)
    two = await create_pool(await fresh_db("notifications"), max_size=2)
    try:
        yield one, two
    finally:
        await one.close()
        await two.close()


def _run() -> list[Message[Any]]:
    events: list[Any] = [
        f.placed("o-1", "buyer-1"), f.placed("o-2", "buyer-2"),
        f.accepted("o-1", "buyer-1"),  # backordered: told, the buyer placed earlier in the run
        f.accepted("o-2", "buyer-2", backordered=False),  # nothing to tell
        f.accepted("o-0", "buyer-0"),  # placed in an earlier batch: its buyer is read from the store
        f.accepted("o-3", "buyer-3"),  # told before its OrderPlaced arrived: no address, the email fails
        f.placed("o-3", "buyer-3"),
        f.placed("o-0", "someone-else"),  # a second OrderPlaced for o-0: the first one stays
        f.accepted("o-1", "buyer-1"),  # told again: nothing new (R22)
    ]
    return [Message(e, Cause(uuid.uuid4(), uuid.uuid4(), None, e.message_type, T0 + timedelta(seconds=n)))
            for n, e in enumerate(events)]


async def _state(pool: asyncpg.Pool) -> tuple[Any, ...]:
    buyers = await pool.fetch("SELECT order_id, buyer_id, buyer_email FROM buyer_orders ORDER BY order_id")
    lines = await pool.fetch("SELECT * FROM order_lines ORDER BY order_id, line_id")
    notes = await pool.fetch("""SELECT notification_id, order_id, channel, kind, status, last_error, caused_by,
                                       correlation_id, subject FROM notifications ORDER BY notification_id""")
    out = await pool.fetch("SELECT topic, message_key, message_type, value FROM outbox ORDER BY id")
    messages = [(r["topic"], r["message_key"], r["message_type"],
                 {k: v for k, v in orjson.loads(r["value"]).items() if k not in ("event_id", "occurred_at")})
                for r in out]
    return [dict(r) for r in buyers], [dict(r) for r in lines], [dict(r) for r in notes], messages


async def test_a_mixed_run_stores_and_emits_what_one_message_at_a_time_does(
        pools: tuple[asyncpg.Pool, asyncpg.Pool]) -> None:
    batch, single = pools
    factory = make_uow(NotificationsSettings(), SystemClock())
    for pool in pools:
        async with transaction(pool, factory) as uow:
            await handlers.order_placed(f.placed("o-0", "buyer-0"), uow)
            uow.commit()
    run = _run()
    async with transaction(batch, factory) as uow:
        await handlers.placed_and_accepted(run, uow)
        uow.commit()
    per_message = {"OrderPlaced": handlers.order_placed, "OrderAccepted": handlers.order_accepted}
    async with transaction(single, factory) as uow:
        for m in run:
            with uow.caused_by(m.cause):
                await per_message[m.cause.message_type](m.payload, uow)
        uow.commit()

    assert await _state(batch) == await _state(single)
    statuses = await batch.fetch("SELECT order_id, channel, status FROM notifications ORDER BY order_id, channel")
    assert [tuple(r) for r in statuses] == [("o-0", "app", "sent"), ("o-0", "email", "pending"),
                                           ("o-1", "app", "sent"), ("o-1", "email", "pending"),
                                           ("o-3", "app", "sent"), ("o-3", "email", "failed")]
