"""`backorder replay <topic> --to <service>`: a backfill from a topic's history, through the service's own inbox.

Inventory learns sellers' regions and SKUs' handling times (R24's promise) from catalog.events. Its database is
emptied while it is stopped; a replay of catalog.events to its group rebuilds them, and a second replay over the
rebuilt database changes nothing. With ``--since T`` only the records from T on are read again.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from typer.testing import CliRunner

from backorder_cli.main import app as cli
from devstack.client import PlatformClient
from devstack.stack import Stack, database_name
from shared.contract import catalog as cat
from tests.integration.test_orders_support import activate, listing, seller

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module", autouse=True)
def services(stack: Stack) -> Iterator[None]:
    stack.start_service("inventory")
    stack.wait_ready()
    yield


def backorder(stack: Stack, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), env={"KAFKA_BOOTSTRAP_SERVERS": stack.kafka_bootstrap,
                                                      "COLUMNS": "200"})
    return result.exit_code, result.output


async def learnt(stack: Stack, seller_id: str, sku_id: str) -> tuple[object, ...]:
    """What inventory knows of the seller and the SKU: region, time zone, handling days, StockChanged rows it
    wrote to its outbox for the SKU."""
    conn = await asyncpg.connect(stack.dsn("inventory"))
    try:
        row = await conn.fetchrow(
            """SELECT s.region, s.timezone, p.handling_days,
                      (SELECT count(*) FROM outbox WHERE message_key = $2 AND message_type = 'StockChanged')
               FROM sellers s, sku_policies p WHERE s.seller_id = $1 AND p.sku_id = $2""", seller_id, sku_id)
        return tuple(row) if row else ()
    finally:
        await conn.close()


async def empty_database(stack: Stack) -> None:
    name = database_name("inventory", stack.db_prefix)
    conn = await asyncpg.connect(stack.database_url)
    try:
        await conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def caught_up(stack: Stack, group: str, topic: str, within_s: float = 60.0) -> None:
    """Wait until ``group`` committed the end of every partition of ``topic``."""
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.kafka_bootstrap)
    reader = AIOKafkaConsumer(bootstrap_servers=stack.kafka_bootstrap)
    await admin.start()
    await reader.start()
    try:
        async with asyncio.timeout(within_s):
            while True:
                committed = {tp: o.offset for tp, o in (await admin.list_consumer_group_offsets(group)).items()
                             if tp.topic == topic}
                ends = await reader.end_offsets(list(committed)) if committed else {}
                if committed and all(committed[tp] >= ends[tp] for tp in committed):
                    return
                await asyncio.sleep(0.2)
    finally:
        await reader.stop()
        await admin.close()


async def test_r24_replay_rebuilds_inventorys_seller_regions_and_handling_days_on_an_empty_database(
        stack: Stack, client: PlatformClient) -> None:
    run = uuid.uuid4().hex[:6]
    seller_id, listing_id, sku_id = f"replay-seller-{run}", f"replay-listing-{run}", f"replay-sku-{run}"
    await seller(client, seller_id, region="EU", tz="Europe/Berlin")
    await listing(client, seller_id, listing_id, [sku_id])
    await activate(client, seller_id, listing_id, sku_id, days=9, region="EU", tz="Europe/Berlin")
    await client.wait_type("inventory.events", "StockChanged", sku_id=sku_id)
    assert await learnt(stack, seller_id, sku_id) == ("EU", "Europe/Berlin", 9, 1)

    code, output = await asyncio.to_thread(backorder, stack, "replay", "catalog.events", "--to", "inventory")
    assert code == 2 and "group inventory has 1 member(s)" in output, output

    stack.stop_service("inventory")
    await empty_database(stack)
    code, output = await asyncio.to_thread(backorder, stack, "replay", "catalog.events", "--to", "inventory")
    assert code == 0, output
    assert "group inventory will read 3 record(s) of catalog.events again when inventory starts" in output

    stack.start_service("inventory")  # migrates the empty database, then reads catalog.events from the start
    await client.wait_type("inventory.events", "StockChanged", sku_id=sku_id, count=2)
    await caught_up(stack, "inventory", "catalog.events")
    assert await learnt(stack, seller_id, sku_id) == ("EU", "Europe/Berlin", 9, 1)

    stack.stop_service("inventory")  # the same replay over the rebuilt database: the inbox skips all of it
    code, output = await asyncio.to_thread(backorder, stack, "replay", "catalog.events", "--to", "inventory")
    assert code == 0, output
    stack.start_service("inventory")
    await caught_up(stack, "inventory", "catalog.events")
    assert await learnt(stack, seller_id, sku_id) == ("EU", "Europe/Berlin", 9, 1)
    assert len(client.matching(lambda o: o.type == "StockChanged" and o.payload.get("sku_id") == sku_id)) == 2


async def test_r24_replay_since_a_time_refeeds_only_the_records_from_that_time_on(
        stack: Stack, client: PlatformClient) -> None:
    run = uuid.uuid4().hex[:6]
    before, after = (f"since-seller-a-{run}", f"since-sku-a-{run}"), (f"since-seller-b-{run}", f"since-sku-b-{run}")
    await seller(client, before[0], region="US", tz="America/Chicago")
    await listing(client, before[0], f"since-listing-a-{run}", [before[1]])
    await activate(client, before[0], f"since-listing-a-{run}", before[1], days=4, region="US", tz="America/Chicago")
    await client.wait_type("inventory.events", "StockChanged", sku_id=before[1])
    # T: the time of the second seller's first record (the broker keeps the producer's timestamp)
    first = await client.send_raw("catalog.events", client.envelope(cat.SellerRegistered(
        seller_id=after[0], region="EU", timezone="Europe/Berlin", backorder_eligible=True)).model_dump_json().encode(),
        key=after[0])
    since = datetime.fromtimestamp(first.timestamp / 1000, UTC).isoformat(timespec="milliseconds")
    await listing(client, after[0], f"since-listing-b-{run}", [after[1]])
    await activate(client, after[0], f"since-listing-b-{run}", after[1], days=7, region="EU", tz="Europe/Berlin")
    await client.wait_type("inventory.events", "StockChanged", sku_id=after[1])
    assert [await learnt(stack, *ids) for ids in (before, after)] == [("US", "America/Chicago", 4, 1),
                                                                      ("EU", "Europe/Berlin", 7, 1)]

    stack.stop_service("inventory")
    await empty_database(stack)
    code, output = await asyncio.to_thread(backorder, stack, "replay", "catalog.events", "--to", "inventory",
                                           "--since", since)
    assert code == 0, output
    assert "group inventory will read 3 record(s) of catalog.events again when inventory starts" in output

    stack.start_service("inventory")
    await client.wait_type("inventory.events", "StockChanged", sku_id=after[1], count=2)
    await caught_up(stack, "inventory", "catalog.events")
    # what came before T stays unknown to the rebuilt database; what came from T on is back
    assert [await learnt(stack, *ids) for ids in (before, after)] == [(), ("EU", "Europe/Berlin", 7, 1)]
