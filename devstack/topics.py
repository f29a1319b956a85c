"""A clean slate on a shared broker: the contract's topics deleted and created again, empty.

A test session starts one Apache Kafka broker (seconds, not milliseconds) and shares it between
test modules; each module starts on its own empty topics. Deleting a topic also deletes the
offsets any consumer group committed for it, so the services' groups start from the beginning
of the new logs too.
"""

from __future__ import annotations

import asyncio
import time

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import UnknownTopicOrPartitionError, for_code

from shared.messaging.topics import ensure_topics, topic_specs
from shared.settings import KafkaSettings


async def recreate_topics(bootstrap: str, timeout_s: float = 60.0) -> None:
    """Delete every topic of the contract that exists, wait until they are gone, create them again."""
    names = {name for name, _, _ in topic_specs()}
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=30_000)
    await admin.start()
    try:
        existing = sorted(names & set(await admin.list_topics()))
        if existing:
            response = await admin.delete_topics(existing)
            refused = [(topic, code) for topic, code, *_ in response.topic_error_codes
                       if code not in (0, UnknownTopicOrPartitionError.errno)]
            if refused:
                raise for_code(refused[0][1])(f"topics not deleted: {refused}")
        deadline = time.monotonic() + timeout_s
        while names & set(await admin.list_topics()):
            if time.monotonic() > deadline:
                raise TimeoutError(f"topics still listed {timeout_s}s after their deletion")
            await asyncio.sleep(0.1)
    finally:
        await admin.close()
    await _create_when_allowed(bootstrap, deadline)


async def _create_when_allowed(bootstrap: str, deadline: float) -> None:
    """A topic whose deletion the controller has not finished yet cannot be created again: retry."""
    while True:
        try:
            await ensure_topics(KafkaSettings(bootstrap_servers=bootstrap), force=True)
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)
