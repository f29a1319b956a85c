"""What ``/readyz`` reports: the database, the consumer group and, reported only, the broker."""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp.test_utils import TestClient, TestServer

from devstack.processes import free_port
from shared.messaging.broker_watch import BrokerWatch
from shared.observability.http import Readiness, build_http_app
from shared.settings import KafkaSettings


async def readyz(readiness: Readiness) -> tuple[int, dict[str, object]]:
    async with TestClient(TestServer(build_http_app("orders", readiness, []))) as client:
        response = await client.get("/readyz")
        return response.status, await response.json()


async def test_readyz_reports_a_broker_the_watch_cannot_reach_without_failing_readiness() -> None:
    readiness = Readiness(database_ok=True, consumers_joined=True)
    nobody = f"127.0.0.1:{free_port()}"  # a closed port: no broker answers there
    reported = asyncio.Event()

    def report(ok: bool) -> None:  # the watch's own report is the event waited on
        readiness.set_kafka(ok)
        reported.set()

    watch = BrokerWatch(KafkaSettings(bootstrap_servers=nobody), report, every_s=0.1)
    task = asyncio.create_task(watch.run())
    try:
        await asyncio.wait_for(reported.wait(), timeout=10)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    status, body = await readyz(readiness)
    assert body["kafka"] is False and body["ready"] is True and status == 200


async def test_readyz_fails_while_the_database_is_down() -> None:
    status, body = await readyz(Readiness(database_ok=False, consumers_joined=True, kafka_ok=True))
    assert status == 503 and body["database"] is False and body["kafka"] is True
