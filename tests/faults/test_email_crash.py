"""R22 under a crash: notifications SIGKILLed in the middle of draining 2,000 emails over a pool of
``SMTP_CONNECTIONS`` connections (the default), then started again.

The queue is filled while the SMTP server is down (2,000 backordered orders through ``orders.events``), the
server comes back, and once a few hundred emails have gone out the service is killed with SIGKILL and
restarted at once. The emails it held are due again when their claim's lease ends.

What must hold: every email arrives (lost: 0, counted by notification id against the database's rows),
and at most one email per connection arrives twice: each connection records an email before its next
``DATA``, so a crash finds at most one email per connection between the server's ``250`` and its record
(``services/notifications/README.md``, "The one window"). The test reports both counts.
"""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from collections import Counter
from collections.abc import Iterator

import asyncpg
import pytest

from devstack.client import PlatformClient
from devstack.smtp import read_mail
from devstack.stack import Stack
from devstack.topics import recreate_topics
from services.notifications.settings import NotificationsSettings
from tests.conftest import dump_logs_on_failure
from tests.faults.harness import poll
from tests.unit.notifications import factories as f

pytestmark = [pytest.mark.integration, pytest.mark.faults]

EMAILS = 2000
#: the default pool: the bound this test proves is the one the service runs with
CONNECTIONS = NotificationsSettings().smtp_connections
ENV = {"EMAIL_BATCH": "40", "EMAIL_POLL_S": "0.2", "EMAIL_LEASE_S": "10",
       "SMTP_TIMEOUT_S": "2", "SMTP_RECONNECT_BASE_S": "0.1", "SMTP_RECONNECT_MAX_S": "0.5"}
ORDERS = [f"o-crash-{i:05d}" for i in range(EMAILS)]


@pytest.fixture(scope="module")
def stack(postgres_server: str, tmp_path_factory: pytest.TempPathFactory,
          request: pytest.FixtureRequest) -> Iterator[Stack]:
    """A broker of its own: 4,000 events on the session's broker would reach the fault package's shared
    platform too (its services consume the same topics in the same groups) and change what the next
    tests compare."""
    own = Stack(tmp_path_factory.mktemp("emailcrash"), db_prefix=f"emailcrash_{uuid.uuid4().hex[:6]}",
                postgres_url=postgres_server)
    try:
        own.start_infra()
        asyncio.run(recreate_topics(own.kafka_bootstrap))  # the services would provision them; one runs here
        yield own
    finally:
        own.stop_all()
        dump_logs_on_failure(own, request)



async def email_states(stack: Stack) -> Counter[str]:
    conn = await asyncpg.connect(stack.dsn("notifications"))
    try:
        rows = await conn.fetch("SELECT status, count(*) AS n FROM notifications WHERE channel = 'email' "
                                "AND order_id LIKE 'o-crash-%' GROUP BY status")
    finally:
        await conn.close()
    return Counter({r["status"]: r["n"] for r in rows})


async def test_r22_a_crash_mid_drain_loses_no_email_and_sends_at_most_one_twice_per_connection(
        stack: Stack, client: PlatformClient) -> None:
    assert stack.smtp is not None
    stack.smtp.stop()
    stack.start_service("notifications", extra_env=ENV)
    stack.wait_ready()

    async def order(order_id: str) -> None:  # its two events in order; the orders side by side
        for event in (f.placed(order_id, f"b-{order_id}"), f.accepted(order_id, f"b-{order_id}")):
            await client.send_raw("orders.events", client.envelope(event).model_dump_json().encode(), key=order_id)

    await asyncio.gather(*(order(order_id) for order_id in ORDERS))

    async def all_queued() -> bool:
        return (await email_states(stack))["pending"] == EMAILS

    await poll(all_queued, f"{EMAILS} emails queued", within_s=300)  # 4,000 events on a busy machine
    stack.smtp.start()  # the same port: the drain begins

    async def well_under_way() -> bool:
        return (await email_states(stack))["sent"] >= EMAILS // 4

    await poll(well_under_way, "a quarter of the emails sent", within_s=120, every_s=0.05)
    code = stack.stop_service("notifications", 0, sig=signal.SIGKILL)
    at_kill = await email_states(stack)
    stack.start_service("notifications", extra_env=ENV)
    started = time.monotonic()

    async def all_sent() -> bool:
        return (await email_states(stack))["sent"] == EMAILS

    await poll(all_sent, "every email sent after the restart", within_s=180, every_s=0.5)
    drained_s = time.monotonic() - started
    received = Counter(str(m["X-Notification-Id"]) for m in read_mail(stack.mail_dir)
                       if str(m["X-Order-Id"]).startswith("o-crash-"))
    duplicates = sum(received.values()) - len(received)
    lost = EMAILS - len(received)
    print(f"\nemail crash: SIGKILL ({code}) with {at_kill['sent']} of {EMAILS} sent and {at_kill['sending']} "
          f"claimed; the rest sent {drained_s:.1f}s after the restart; received {sum(received.values())}, "
          f"unique {len(received)}, duplicates {duplicates} (bound {CONNECTIONS}), lost {lost}")
    assert code == -signal.SIGKILL
    assert 0 < at_kill["sent"] < EMAILS  # killed mid-drain
    assert lost == 0
    assert duplicates <= CONNECTIONS
    assert (await email_states(stack)) == Counter({"sent": EMAILS})
