"""Faults for the notifications service (R22): the SMTP server down while 100 emails are due, a second
instance replaying the whole of orders.events under a new consumer group, and both instances draining
the queue when the server is back: every email received exactly once.

The tests run in order on one stack: outage, replay, restart.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections import Counter
from typing import Any

import aiohttp
import asyncpg
import pytest

from devstack.client import PlatformClient
from devstack.smtp import read_mail
from devstack.stack import Stack
from tests.unit.notifications import factories as f

pytestmark = [pytest.mark.integration, pytest.mark.faults]

TOPIC = "notifications.events"
ORDERS = [f"o-fault-{i:03d}" for i in range(100)]
FAST_RETRIES = {"SMTP_RECONNECT_BASE_S": "0.1", "SMTP_RECONNECT_MAX_S": "0.5", "EMAIL_POLL_S": "0.2",
                "EMAIL_BATCH": "10"}
REPLAY = {**FAST_RETRIES, "CONSUMER_GROUP_SUFFIX": "-replay"}


@pytest.fixture(scope="module", autouse=True)
def service(stack: Stack) -> None:
    stack.start_service("notifications", extra_env=FAST_RETRIES)
    stack.wait_ready()


async def query(stack: Stack, sql: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(stack.dsn("notifications"))
    try:
        return list(await conn.fetch(sql))
    finally:
        await conn.close()


async def poll(check: Any, what: str, within_s: float = 30.0) -> Any:
    """Poll ``check()`` until it returns something truthy, with a deadline."""
    deadline = time.monotonic() + within_s
    while True:
        result = await check()
        if result:
            return result
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


async def smtp_up_metric(stack: Stack, instance: int = 0) -> float | None:
    url = stack.services[("notifications", instance)].url + "/metrics"
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        text = await response.text()
    found = re.search(r"^backorder_notification_smtp_up (\S+)$", text, re.M)
    return float(found.group(1)) if found else None


def log_events(stack: Stack, instance: int, event: str, **fields: Any) -> list[dict[str, Any]]:
    found = []
    for line in stack.services[("notifications", instance)].log.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("event") == event and all(entry.get(k) == v for k, v in fields.items()):
            found.append(entry)
    return found


def our_mails(stack: Stack) -> list[Any]:
    return [m for m in read_mail(stack.mail_dir) if str(m["X-Order-Id"]).startswith("o-fault-")]


async def test_smtp_outage_blocks_neither_the_consumer_nor_the_app_channel(client: PlatformClient,
                                                                                stack: Stack) -> None:
    assert stack.smtp is not None
    stack.smtp.stop()
    for order_id in ORDERS:
        await client.send_raw("orders.events", client.envelope(f.placed(order_id, f"b-{order_id}"))
                              .model_dump_json().encode(), key=order_id)
        await client.send_raw("orders.events", client.envelope(f.accepted(order_id, f"b-{order_id}"))
                              .model_dump_json().encode(), key=order_id)

    started = time.monotonic()
    await client.wait_for(lambda o: o.topic == TOPIC and o.type == "NotificationSent"
                          and o.payload["order_id"] in ORDERS and o.payload["channel"] == "app",
                          count=len(ORDERS), timeout=60)
    print(f"100 app notifications with SMTP down: {time.monotonic() - started:.2f}s after the last publish")

    async def sender_saw_smtp_down() -> bool:
        return await smtp_up_metric(stack) == 0.0

    await poll(sender_saw_smtp_down, "the sender to find the SMTP server down")
    rows = await query(stack, "SELECT status, attempts, count(*) AS n FROM notifications "
                              "WHERE channel = 'email' GROUP BY status, attempts")
    assert [(r["status"], r["attempts"], r["n"]) for r in rows] == [("pending", 0, 100)]  # due, no attempt burnt
    assert not client.matching(lambda o: o.topic == TOPIC and o.payload.get("channel") == "email")


async def test_r22_replay_by_a_new_consumer_group_sends_nothing_new(client: PlatformClient, stack: Stack) -> None:
    before_rows = await query(stack, "SELECT count(*) AS n FROM notifications")
    before_outbox = await query(stack, "SELECT count(*) AS n FROM outbox")
    stack.start_service("notifications", instance=1, extra_env=REPLAY)
    stack.wait_ready()

    async def replayed_all() -> bool:
        rows = await query(stack, "SELECT count(*) AS n FROM inbox WHERE consumer = 'notifications-replay'")
        return rows[0]["n"] == 2 * len(ORDERS)

    await poll(replayed_all, "the replay group to re-consume the whole topic")
    # the inbox is per consumer group, so it let every message through again: the notification ids stopped them
    assert (await query(stack, "SELECT count(*) AS n FROM notifications"))[0]["n"] == before_rows[0]["n"]
    assert (await query(stack, "SELECT count(*) AS n FROM outbox"))[0]["n"] == before_outbox[0]["n"]
    assert len(log_events(stack, 1, "notification_already_told")) == 2 * len(ORDERS)  # app and email, each order


async def test_r22_smtp_restart_every_email_received_exactly_once_by_two_instances(client: PlatformClient,
                                                                                   stack: Stack) -> None:
    assert stack.smtp is not None
    stack.smtp.start()  # the same port
    started = time.monotonic()
    await client.wait_for(lambda o: o.topic == TOPIC and o.type == "NotificationSent"
                          and o.payload["order_id"] in ORDERS and o.payload["channel"] == "email",
                          count=len(ORDERS), timeout=60)
    drained = time.monotonic() - started

    async def all_received() -> list[Any]:
        mails = our_mails(stack)
        return mails if len(mails) >= len(ORDERS) else []

    mails = await poll(all_received, "100 emails")
    per_order = Counter(m["X-Order-Id"] for m in mails)
    assert set(per_order) == set(ORDERS) and set(per_order.values()) == {1}
    assert len({m["Message-ID"] for m in mails}) == len(ORDERS)
    rows = await query(stack, "SELECT status, attempts, count(*) AS n FROM notifications "
                              "WHERE channel = 'email' GROUP BY status, attempts")
    assert [(r["status"], r["attempts"], r["n"]) for r in rows] == [("sent", 1, 100)]
    emails_sent_events = client.matching(lambda o: o.topic == TOPIC and o.payload.get("channel") == "email"
                                         and o.payload["order_id"] in ORDERS)
    assert len({o.payload["notification_id"] for o in emails_sent_events}) == len(ORDERS)
    # which instance sent what: together exactly 100
    sent_by = [len(log_events(stack, i, "notification_sent", channel="email")) for i in (0, 1)]
    print(f"queue of 100 drained {drained:.2f}s after the SMTP restart; sent per instance: {sent_by}")
    assert sum(sent_by) == len(ORDERS)
    assert len(our_mails(stack)) == len(ORDERS)  # and nothing arrived late
