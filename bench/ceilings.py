"""What the same machine can do without the platform, measured in the same run.

(a) The one-transaction-per-order design common shop platforms use: a conditional update of
    the hot stock row plus an insert of the allocation, each in its own transaction, back to
    back, over 1 and over 8 connections to the same PostgreSQL.
(b) The transport: an aiokafka produce -> consume round trip of as many messages of the same
    size on the same broker.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

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
