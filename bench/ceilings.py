"""What the same machine can do without the platform, measured in the same run.

(a) The one-transaction-per-order design common shop platforms use: a conditional update of
    the hot stock row plus an insert of the allocation, each in its own transaction, back to
    back, over 1 and over 8 connections to the same PostgreSQL.
(b) The transport: an aiokafka produce -> consume round trip of as many messages of the same
    size on the same broker.
(c) The transport's latency floor: the decision path's Kafka hops with no work in them. Messages
    go at the open loop's rate through as many bare relays (consume, produce onward) as the path
    has hops, each relay with the services' fetch wait, to a consumer that waits as the observer
    does; what the platform's open loop adds to this floor is its own.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from shared.settings import ServiceSettings

#: the services' consumers wait this long on an empty fetch (the floor's relays wait the same)
SERVICE_FETCH_WAIT_MS: int = ServiceSettings.model_fields["consumer_fetch_max_wait_ms"].default

SCHEMA = """
DROP TABLE IF EXISTS ceiling_stock, ceiling_allocations;
CREATE TABLE ceiling_stock (sku_id text PRIMARY KEY, on_hand int NOT NULL, allocated int NOT NULL,
                            CHECK (allocated <= on_hand));
CREATE TABLE ceiling_allocations (order_id text PRIMARY KEY, sku_id text NOT NULL, qty int NOT NULL);
"""


async def per_order_transactions(dsn: str, orders: int, connections: int) -> float:
    """Orders per second allocated one transaction at a time over ``connections`` connections."""
    setup = await asyncpg.connect(dsn)
    await setup.execute(SCHEMA)
    await setup.execute("INSERT INTO ceiling_stock VALUES ('hot', $1, 0)", orders)
    await setup.close()
    pool = await asyncpg.create_pool(dsn, min_size=connections, max_size=connections)
    assert pool is not None
    queue: asyncio.Queue[str] = asyncio.Queue()
    for n in range(orders):
        queue.put_nowait(f"o{n}")

    async def worker() -> None:
        async with pool.acquire() as conn:
            while not queue.empty():
                order_id = queue.get_nowait()
                async with conn.transaction():
                    updated = await conn.execute(
                        "UPDATE ceiling_stock SET allocated = allocated + 1 "
                        "WHERE sku_id = 'hot' AND allocated < on_hand"
                    )
                    if updated.endswith("1"):
                        await conn.execute("INSERT INTO ceiling_allocations VALUES ($1, 'hot', 1)", order_id)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    elapsed = time.perf_counter() - started
    await pool.close()
    return orders / elapsed


async def transport_round_trip(bootstrap: str, messages: int, size: int) -> float:
    """Messages per second produced and consumed back on the same broker."""
    topic = f"bench-transport-{uuid.uuid4().hex[:6]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic(topic, num_partitions=6, replication_factor=1)])
    await admin.close()
    payload = b"x" * size
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=2)
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=f"g-{topic}",
                                auto_offset_reset="earliest", enable_auto_commit=False, fetch_max_wait_ms=50)
    await producer.start()
    await consumer.start()
    try:
        while not consumer.assignment():
            await asyncio.sleep(0.05)
        started = time.perf_counter()
        futures = [await producer.send(topic, payload, key=str(n).encode()) for n in range(messages)]
        await asyncio.gather(*futures)
        received = 0
        while received < messages:
            for records in (await consumer.getmany(timeout_ms=200, max_records=5000)).values():
                received += len(records)
        return messages / (time.perf_counter() - started)
    finally:
        await consumer.stop()
        await producer.stop()


async def bare_hops_latency(bootstrap: str, *, hops: int, rate_per_s: float, seconds: float, partitions: int,
                            observer_wait_ms: int, size: int = 600) -> list[float]:
    """End-to-end milliseconds of messages sent at ``rate_per_s`` through ``hops`` relays that do nothing
    but consume and produce onward (``acks=all``, each relay its own consumer group), read at the end
    by a consumer that waits ``observer_wait_ms`` on an empty fetch. The relays run in this process:
    at the open loop's rate they need a few percent of a core, so the figure is the broker's."""
    run = uuid.uuid4().hex[:6]
    topics = [f"bench-hops-{run}-{n}" for n in range(hops + 1)]
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(t, num_partitions=partitions, replication_factor=1) for t in topics])
    finally:
        await admin.close()
    consumers = [AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=f"g-{topic}",
                                  auto_offset_reset="earliest", enable_auto_commit=False,
                                  fetch_max_wait_ms=SERVICE_FETCH_WAIT_MS) for topic in topics[:-1]]
    sink = AIOKafkaConsumer(topics[-1], bootstrap_servers=bootstrap, group_id=f"g-{topics[-1]}",
                            auto_offset_reset="earliest", enable_auto_commit=False, fetch_max_wait_ms=observer_wait_ms)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)
    clients: Sequence[AIOKafkaConsumer | AIOKafkaProducer] = [*consumers, sink, producer]
    sent: dict[bytes, float] = {}
    latencies: list[float] = []

    async def relay(consumer: AIOKafkaConsumer, onward: str) -> None:
        while True:
            batches = await consumer.getmany(timeout_ms=200, max_records=1000)
            await asyncio.gather(*[await producer.send(onward, r.value, key=r.key)
                                   for records in batches.values() for r in records])

    async def observe() -> None:
        while True:
            batches = await sink.getmany(timeout_ms=100, max_records=5000)
            now = time.perf_counter()
            latencies.extend((now - sent[r.value[:16]]) * 1000 for records in batches.values() for r in records)

    for client in clients:
        await client.start()
    tasks = [asyncio.create_task(relay(c, onward)) for c, onward in zip(consumers, topics[1:], strict=True)]
    tasks.append(asyncio.create_task(observe()))
    try:
        while not all(c.assignment() for c in (*consumers, sink)):  # every group joined: no wait for a join
            await asyncio.sleep(0.05)
        count = int(rate_per_s * seconds)
        started = time.perf_counter()
        for n in range(count):
            delay = started + n / rate_per_s - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            value = f"{n:016d}".encode() + b"x" * max(0, size - 16)
            sent[value[:16]] = time.perf_counter()
            await producer.send(topics[0], value, key=str(n).encode())
        deadline = time.perf_counter() + 30
        while len(latencies) < count and time.perf_counter() < deadline:
            await asyncio.sleep(0.05)
        return latencies
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for client in clients:
            await client.stop()
