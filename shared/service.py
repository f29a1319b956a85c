"""Runs one service process: migrations, pool, consumer group, outbox relay, HTTP, SIGTERM.

A service is described by a ``ServiceDefinition`` (what it consumes, publishes and
runs in the background); ``serve`` turns it into a process and ``shared.asyncapi_app``
into its AsyncAPI document, both from the same definition so they cannot disagree.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import structlog
from aiohttp import web
from faststream.kafka import KafkaBroker

from shared.clock import Clock, clock_from_env
from shared.contract.topics import Topic
from shared.gc_tuning import tune_garbage_collector
from shared.messaging.broker_watch import BrokerWatch
from shared.messaging.consumer import ConsumerRuntime, Subscription
from shared.messaging.group_consumer import GroupConsumer
from shared.messaging.outbox import OutboxRelay
from shared.messaging.publishers import build_publishing
from shared.messaging.topics import ensure_topics
from shared.observability import tracing
from shared.observability.http import Readiness, Route, build_http_app
from shared.observability.logging import configure_logging
from shared.persistence.db import DATABASE_DOWN, TRANSIENT_DB_ERRORS, Conn, create_pool
from shared.persistence.migrate import migrate
from shared.persistence.uow import UnitOfWork
from shared.settings import ServiceSettings

log = structlog.get_logger(__name__)


@dataclass
class ServiceContext:
    """What a running service hands to its background tasks and read routes."""

    settings: ServiceSettings
    pool: asyncpg.Pool
    clock: Clock
    readiness: Readiness
    uow_factory: Callable[[Conn], UnitOfWork]
    #: the process's outbox relay, to hand it what a background task's own statement wrote to the outbox
    relay: OutboxRelay | None = None


@dataclass(frozen=True)
class ServiceDefinition:
    name: str
    version: str
    description: str
    settings_cls: type[ServiceSettings]
    migrations: Path
    subscriptions: Sequence[Subscription]
    publishes: Sequence[Topic]
    #: ``make_uow(settings, clock) -> (conn -> UnitOfWork)``
    make_uow: Callable[[Any, Clock], Callable[[Conn], UnitOfWork]]
    background: Sequence[Callable[[ServiceContext], Coroutine[Any, Any, None]]] = ()
    routes: Callable[[ServiceContext], list[Route]] = field(default=lambda ctx: [])

    @property
    def group_id(self) -> str:
        return self.name


async def _watch_database(pool: asyncpg.Pool, readiness: Readiness, every_s: float = 2.0) -> None:
    while True:
        try:
            async with pool.acquire(timeout=2) as conn:
                await conn.fetchval("SELECT 1", timeout=2)
            readiness.database_ok = True
        except DATABASE_DOWN as exc:
            if readiness.database_ok:
                log.warning("database_unavailable", error=repr(exc))
            readiness.database_ok = False
        await asyncio.sleep(every_s)


#: the server is not up yet, or the service's database is not created yet
_DATABASE_NOT_READY: tuple[type[BaseException], ...] = (
    *TRANSIENT_DB_ERRORS, asyncpg.exceptions.InvalidCatalogNameError)


async def _wait_for_database(dsn: str, service_migrations: Path) -> None:
    for attempt in range(1, 121):
        try:
            applied = await migrate(dsn, service_migrations)
            log.info("migrations_applied", applied=applied)
            return
        except _DATABASE_NOT_READY as exc:
            log.warning("database_not_ready", attempt=attempt, error=repr(exc))
            await asyncio.sleep(min(5.0, 0.2 * attempt))
    raise RuntimeError("database never became available")


async def serve(definition: ServiceDefinition) -> None:
    settings = definition.settings_cls(service_name=definition.name)
    configure_logging(definition.name, settings.log_level, settings.log_format)
    if tracing.configure_tracing(definition.name, definition.version):
        log.info("tracing_exported")
    dsn = settings.database_url.get_secret_value()
    await _wait_for_database(dsn, definition.migrations)
    pool = await create_pool(dsn, min_size=settings.db_pool_min, max_size=settings.db_pool_max)
    clock = clock_from_env()
    readiness = Readiness(database_ok=True)
    uow_factory = definition.make_uow(settings, clock)
    broker, send, renew = build_publishing(settings.kafka, client_id=definition.name, publishes=definition.publishes,
                                    dead_letters=[s.topic.dlq for s in definition.subscriptions])
    relay = OutboxRelay(pool, send, batch_size=settings.outbox_batch, poll_s=settings.outbox_poll_s,
                        retention_h=settings.outbox_retention_h, renew_producer=renew)
    runtime: ConsumerRuntime[Any] = ConsumerRuntime(
        group_id=definition.group_id + settings.consumer_group_suffix,
        subscriptions=definition.subscriptions,
        pool=pool,
        uow_factory=uow_factory,
        max_attempts=settings.handler_max_attempts,
        retry_base_s=settings.handler_retry_base_s,
        on_db_state=lambda ok: setattr(readiness, "database_ok", ok),
        relay=relay,
    )
    consumer = GroupConsumer(settings, runtime.topic_names, group_id=runtime.group_id,
                             client_id=f"{settings.kafka.client_id_prefix}-{definition.name}",
                             handle=runtime.handle_records,
                             on_joined=lambda: setattr(readiness, "consumers_joined", True))
    context = ServiceContext(settings, pool, clock, readiness, uow_factory, relay)
    watch = BrokerWatch(settings.kafka, readiness.set_kafka, every_s=settings.kafka_check_s)

    http = web.AppRunner(build_http_app(definition.name, readiness, definition.routes(context)))
    await http.setup()
    site = web.TCPSite(http, settings.http_host, settings.http_port)
    await site.start()
    log.info("http_listening", port=http.addresses[0][1] if http.addresses else None)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    tasks = []
    if await _connect_with_retry(broker, consumer, settings, stop):
        tasks = [
            asyncio.create_task(consumer.run(), name="consumer"),
            asyncio.create_task(consumer.commit_periodically(), name="offset-commits"),
            asyncio.create_task(relay.run(), name="outbox-relay"),
            asyncio.create_task(watch.run(), name="broker-watch"),
            asyncio.create_task(_watch_database(pool, readiness), name="db-watch"),
            *(asyncio.create_task(job(context), name=getattr(job, "__name__", "job"))
              for job in definition.background),
        ]
        tune_garbage_collector()
        log.info("service_started", service=definition.name)
        await stop.wait()

    log.info("service_stopping")
    readiness.stopping = True
    await consumer.stop()  # the batch in hand finishes and its offsets are committed; the group is left
    await runtime.close()
    with contextlib.suppress(Exception):  # what the last batches staged goes out now, not with the next instance
        await asyncio.wait_for(relay.publish_once(), 5)
    await relay.stop()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await broker.stop()
    await http.cleanup()
    await pool.close()
    with contextlib.suppress(Exception):  # the last spans go out
        await asyncio.to_thread(tracing.shutdown)
    log.info("service_stopped")


async def _connect_with_retry(broker: KafkaBroker, consumer: GroupConsumer, settings: ServiceSettings,
                              stop: asyncio.Event) -> bool:
    """Provision the topics (where allowed), start the producer and join the group, retrying with backoff;
    False if the service was told to stop first (a SIGTERM must not wait for a broker that never comes)."""
    for attempt in range(1, 121):
        try:
            await ensure_topics(settings.kafka)
            await broker.start()
            await consumer.start()
            return True
        except Exception as exc:
            log.warning("kafka_not_ready", attempt=attempt, error=repr(exc))
            with contextlib.suppress(Exception):
                await broker.stop()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), min(5.0, 0.2 * attempt))
            if stop.is_set():
                return False
    raise RuntimeError("Kafka never became available")


def main(definition: ServiceDefinition, argv: Sequence[str] | None = None) -> None:
    """``python -m services.<name> [serve|migrate]``"""
    args = list(sys.argv[1:] if argv is None else argv)
    command = args[0] if args else "serve"
    if command == "migrate":
        settings = definition.settings_cls(service_name=definition.name)
        configure_logging(definition.name, settings.log_level, settings.log_format)
        asyncio.run(_wait_for_database(settings.database_url.get_secret_value(), definition.migrations))
    elif command == "serve":
        asyncio.run(serve(definition))
    else:
        raise SystemExit(f"usage: python -m services.{definition.name} [serve|migrate]")
