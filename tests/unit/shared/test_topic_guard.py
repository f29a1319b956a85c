"""The topic guard's ``after_acks``: a metadata request is skipped only while the producer's connections
are the very ones open before the last listing (a broker restart breaks them)."""

from __future__ import annotations

from typing import Any

import pytest

from shared.messaging.topics import INCARNATION_PREFIX, TopicGuard, TopicsMissing
from shared.settings import KafkaSettings

MARKER = f"{INCARNATION_PREFIX}first"


class FakeConnection:
    def __init__(self) -> None:
        self.open = True

    def connected(self) -> bool:
        return self.open


class FakeAdmin:
    """A broker as the admin client sees it: its topics, and how often it was asked to describe some."""

    def __init__(self, topics: set[str]) -> None:
        self.topics = topics
        self.describes = 0

    async def list_topics(self) -> list[str]:
        return sorted(self.topics)

    async def describe_topics(self, names: list[str]) -> list[dict[str, Any]]:
        self.describes += 1
        return [{"topic": n, "error_code": 0 if n in self.topics else 3} for n in names]

    async def close(self) -> None:
        return None


class Guard(TopicGuard):
    def __init__(self, admin: FakeAdmin, connections: list[FakeConnection]) -> None:
        super().__init__(KafkaSettings(), ["orders.events"], provision=False)
        self.admin = admin
        self.producer_connections = lambda: tuple(c for c in connections if c.connected())

    async def _admin_client(self) -> Any:
        return self.admin


async def test_after_acks_skips_the_metadata_request_while_the_producer_keeps_its_connections() -> None:
    admin = FakeAdmin({"orders.events", MARKER})
    guard = Guard(admin, [FakeConnection()])
    incarnation = await guard.check()
    for _ in range(3):
        await guard.after_acks({"orders.events"}, incarnation)
    assert incarnation == MARKER
    assert admin.describes == 0


async def test_after_acks_asks_the_broker_when_a_connection_was_replaced_and_sees_the_lost_topics() -> None:
    admin = FakeAdmin({"orders.events", MARKER})
    connections = [FakeConnection()]
    guard = Guard(admin, connections)
    incarnation = await guard.check()
    # the broker restarts without its state: the connection breaks, the producer opens another
    connections[0].open = False
    connections.append(FakeConnection())
    admin.topics = set()
    with pytest.raises(TopicsMissing):
        await guard.after_acks({"orders.events"}, incarnation)
    assert admin.describes == 1


async def test_after_acks_asks_the_broker_when_the_producer_had_no_connection_at_the_listing() -> None:
    admin = FakeAdmin({"orders.events", MARKER})
    connections: list[FakeConnection] = []
    guard = Guard(admin, connections)
    incarnation = await guard.check()
    connections.append(FakeConnection())  # opened after the listing: it proves nothing about that broker
    await guard.after_acks({"orders.events"}, incarnation)
    assert admin.describes == 1
