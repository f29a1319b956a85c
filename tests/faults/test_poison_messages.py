"""Poison messages: a message whose handler fails every time is retried a bounded number of times with
backoff, dead-lettered with its error, and does not block its partition; an operator lists it, removes the
cause and replays it with the ``backorder`` CLI, and it is handled (once).

The fault is injected honestly, in the orders service's own database: a trigger that raises for one order
id, so ``PlaceOrder`` for that order fails inside the handler's transaction on every attempt, exactly like
a bug or a bad row would. Orders placed after it on the same partition must still be handled.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
from datetime import datetime

import orjson
import pytest
from aiokafka.partitioner import murmur2
from typer.testing import CliRunner

from backorder_cli.main import app
from devstack.client import Observed, PlatformClient
from devstack.stack import Stack
from shared.contract.orders import OrderLine, PlaceOrder
from shared.contract.topics import ORDERS_COMMANDS_TOPIC
from tests.faults import harness as h
from tests.faults.conftest import SHARED_ENV

pytestmark = [pytest.mark.integration, pytest.mark.faults]

ATTEMPTS, BASE_S = int(SHARED_ENV["HANDLER_MAX_ATTEMPTS"]), float(SHARED_ENV["HANDLER_RETRY_BASE_S"])
FAULT = """
CREATE FUNCTION fault_injected() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.order_id = '{order_id}' THEN
        RAISE EXCEPTION 'injected fault: order % cannot be stored', NEW.order_id;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER fault_injected BEFORE INSERT ON orders FOR EACH ROW EXECUTE FUNCTION fault_injected();
"""
CURE = "DROP TRIGGER fault_injected ON orders; DROP FUNCTION fault_injected();"


def partition_of(key: str, partitions: int = ORDERS_COMMANDS_TOPIC.partitions) -> int:
    """Kafka's default partitioner (murmur2 of the key), as every producer here uses it."""
    return (murmur2(key.encode()) & 0x7FFFFFFF) % partitions


def same_partition(prefix: str, partition: int, count: int) -> list[str]:
    """``count`` order ids starting with ``prefix`` that land on ``partition``."""
    ids = (f"{prefix}{n}" for n in range(10_000))
    return list(itertools.islice((i for i in ids if partition_of(i) == partition), count))


async def backorder(stack: Stack, *args: str) -> str:
    """Run the operator CLI (its typer app, in a thread: it runs its own event loop) against this stack."""
    result = await asyncio.to_thread(CliRunner().invoke, app, list(args),
                                     env={"KAFKA_BOOTSTRAP_SERVERS": stack.kafka_bootstrap, "COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    return str(result.output)


def order(workload: h.Workload, order_id: str) -> PlaceOrder:
    return PlaceOrder(order_id=order_id, buyer_id="b-poison", buyer_email="b-poison@example.com", region="US",
                      lines=[OrderLine(line_id="l1", sku_id=workload.skus[0], qty=1)])


def placed(client: PlatformClient, order_id: str) -> list[Observed]:
    return client.matching(lambda o: o.type == "OrderPlaced" and o.payload.get("order_id") == order_id)


async def test_poison_message_is_retried_with_backoff_dead_lettered_and_replayed_once_fixed(
        platform: Stack, platform_client: PlatformClient) -> None:
    stack, client = platform, platform_client
    workload = h.Workload(client, n_orders=0, n_skus=1, regular=100, new_seller_every=0)
    await workload.setup()
    poison = f"o-{workload.run}-poison"
    partition = partition_of(poison)
    followers = same_partition(f"o-{workload.run}-f", partition, 3)
    await h.execute(stack, "orders", FAULT.format(order_id=poison))

    # the poison message, then three more orders on the same partition
    await client.send(order(workload, poison))
    for follower in followers:
        await client.send(order(workload, follower))

    [letter] = await client.wait_for(lambda o: o.topic == "orders.commands.dlq" and o.key == poison, timeout=30)
    dead = letter.value
    assert (dead["reason"], dead["attempts"], dead["consumer"]) == ("handler_failed", ATTEMPTS, "orders")
    assert "injected fault" in dead["error"] and dead["partition"] == partition
    # the partition went on: the orders behind it were placed and decided
    await h.wait_for_decisions(stack, client, followers, within_s=30)
    assert not placed(client, poison)
    assert not await h.query(stack, "orders", "SELECT 1 FROM orders WHERE order_id = $1", poison)

    # bounded, with backoff: ATTEMPTS tries of the message alone, each wait longer than the one before
    tries = [e for e in h.log_events(stack, "orders", "handler_failed") if poison in e.get("error", "")]
    assert [e["attempt"] for e in tries] == list(range(1, ATTEMPTS + 1))
    at = [datetime.fromisoformat(e["timestamp"]) for e in tries]
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(at)]
    assert all(gap >= BASE_S * 4 ** n * 0.9 for n, gap in enumerate(gaps)), gaps
    assert gaps == sorted(gaps), gaps

    # the operator sees it ...
    listed = await backorder(stack, "dlq", "list", "orders.commands", "--limit", "10000")
    assert "handler_failed" in listed and f"{partition}/{dead['offset']}" in listed, listed
    # ... removes the cause and replays it: it is handled now
    await h.execute(stack, "orders", CURE)
    replayed = await backorder(stack, "dlq", "replay", "orders.commands", "--offset", str(letter.offset))
    assert "replayed 1 message" in replayed, replayed
    await h.wait_for_decisions(stack, client, [poison], within_s=30)
    [event] = placed(client, poison)
    assert event.value["causation_id"] == dead_letter_event_id(letter)

    # replaying the same dead letter again changes nothing (the replay has its inbox id), and nothing more
    # was dead-lettered; an order behind it on the partition proves the replay was consumed
    await backorder(stack, "dlq", "replay", "orders.commands", "--offset", str(letter.offset))
    [barrier] = same_partition(f"o-{workload.run}-g", partition, 1)
    await client.send(order(workload, barrier))
    await h.wait_for_decisions(stack, client, [barrier], within_s=30)
    assert len({o.value["event_id"] for o in placed(client, poison)}) == 1
    assert len(client.matching(lambda o: o.topic == "orders.commands.dlq" and o.key == poison)) == 1
    print(f"\npoison: {ATTEMPTS} attempts, waits {[round(g, 2) for g in gaps]}s, dead-lettered at "
          f"orders.commands.dlq/{letter.offset}; {len(followers)} orders behind it on partition {partition} "
          f"handled; replayed after the fix: handled once, a second replay changed nothing")


def dead_letter_event_id(letter: Observed) -> str:
    """The event id of the original message inside a dead letter."""
    return str(orjson.loads(base64.b64decode(letter.value["original_b64"]))["event_id"])
