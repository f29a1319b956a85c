"""Topic provisioning from the contract's topic table (embedded broker and dev clusters).

In production, topics are Strimzi ``KafkaTopic`` resources rendered from the same table
(``deploy/k8s``); services then run with ``KAFKA_PROVISION_TOPICS=false``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable

import structlog
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from shared.contract.topics import ALL_TOPICS, Topic
from shared.messaging.broker import aiokafka_security
from shared.settings import KafkaSettings


def topic_specs(partitions: int | None = None) -> list[tuple[str, int, dict[str, str]]]:
    specs: list[tuple[str, int, dict[str, str]]] = []
    for topic in ALL_TOPICS:
        specs.append((topic.name, partitions or topic.partitions, _config(topic)))
        specs.append((topic.dlq, 1, {"retention.ms": str(30 * 24 * 3600 * 1000)}))
    return specs


def _config(topic: Topic) -> dict[str, str]:
    return {"retention.ms": str(topic.retention_ms), "cleanup.policy": "delete"}


async def ensure_topics(settings: KafkaSettings, *, force: bool = False) -> list[str]:
    """Create the contract's topics that do not exist yet; return the ones created."""
    if not force and not provisioning_enabled():
        return []
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers, request_timeout_ms=10_000,
                                **aiokafka_security(settings))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(name, num_partitions=n, replication_factor=_replication(), topic_configs=config)
            for name, n, config in topic_specs(_partitions_override())
            if name not in existing
        ]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):  # another instance created them first
                await admin.create_topics(missing)
        return [t.name for t in missing]
    finally:
        await admin.close()


def provisioning_enabled() -> bool:
    return os.environ.get("KAFKA_PROVISION_TOPICS", "true").lower() not in ("0", "false", "no")


log = structlog.get_logger(__name__)


class TopicsMissing(Exception):
    """Topics a service needs are not on the broker."""


#: Marker topics name a broker incarnation (see ``TopicGuard``); never used for messages.
INCARNATION_PREFIX = "backorder.incarnation."


class TopicGuard:
    """Watches a service's topics on the broker, re-provisions them, and notices a broker that lost its state.

    A broker restart that loses its state (the embedded in-memory broker; a cluster rebuilt from
    scratch) loses the topics, the messages, the consumer groups and their committed offsets.
    Every ``check_s`` the guard lists the broker's topics (a metadata request that creates none):

    * missing topics are provisioned with the contract's partition counts (when provisioning is
      on: the embedded stack and dev clusters; production topics are Strimzi resources);
    * an *incarnation marker*, a topic named ``backorder.incarnation.<uuid>`` that provisioning
      creates when there is none, tells whether this is still the broker the service knew: when
      the marker it remembers is gone, the broker lost its state, whoever re-provisioned it since.
      Then ``on_lost_state`` rewinds the service's consumer to the beginning of the new logs, and
      ``rewinding`` stays true for a while so that the rebalances that follow rewind too: positions
      and commits made against the lost logs (the embedded broker accepts a commit from a member of
      a group it no longer knows) would otherwise skip new messages. The inbox makes reading again
      harmless.
    * The outbox relay asks ``before_send`` and ``after_acks`` around every batch (a metadata
      request each, to a broker a few milliseconds away): the embedded broker acknowledges records
      sent with a producer's stale metadata to a topic it no longer has, and a restart between two
      of the guard's rounds would go unnoticed. Rows are sent only to topics that exist, and marked
      published only if the broker kept its state (the same incarnation) from before the send to
      after the acknowledgements. ``after_acks`` skips its request when the producer's connections
      are the ones that were open before the last listing (``_same_broker_since_listing``).
    """

    def __init__(self, settings: KafkaSettings, topics: Iterable[str], *, provision: bool | None = None,
                 check_s: float = 1.0, rewind_s: float = 30.0,
                 on_lost_state: Callable[[], Awaitable[None]] | None = None,
                 on_broker_state: Callable[[bool], None] | None = None) -> None:
        self.settings = settings
        self.wanted = frozenset(topics)
        self.provision = provisioning_enabled() if provision is None else provision
        self.check_s = check_s
        self.rewind_s = rewind_s
        self.on_lost_state = on_lost_state
        #: told after every periodic check whether the broker answered (readiness reports it)
        self.on_broker_state = on_broker_state
        self.broker_ok = False
        self.incarnation: str | None = None
        self.lost_state = 0
        self._rewind_until = 0.0
        self._admin: AIOKafkaAdminClient | None = None
        self._lock = asyncio.Lock()
        #: when the last ``check`` listed the broker's topics, and what it found
        self._listing: tuple[float, set[str]] | None = None
        #: the producer's open connections (``producer_connections``), set by the service once it has one
        self.producer_connections: Callable[[], tuple[object, ...]] | None = None
        #: those connections as they were just before the last listing that found the incarnation
        self._connections_at_listing: tuple[object, ...] = ()

    @property
    def rewinding(self) -> bool:
        """The broker lost its state a moment ago: a partition assigned now starts from its beginning."""
        return time.monotonic() < self._rewind_until

    async def run(self) -> None:
        while True:
            try:
                await self.check()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self.broker_ok:
                    log.warning("kafka_unavailable", error=repr(exc))
                self.broker_ok = False
                await self._close_admin()
            if self.on_broker_state is not None:
                self.on_broker_state(self.broker_ok)
            await asyncio.sleep(self.check_s)

    async def check(self) -> str | None:
        """Provision what is missing, notice a lost state; return the broker's incarnation (None if unknown)."""
        async with self._lock:
            admin = await self._admin_client()
            connections = self.producer_connections() if self.producer_connections is not None else ()
            existing = set(await admin.list_topics())
            self._listing = (time.monotonic(), existing)
            self._connections_at_listing = connections
            if not self.broker_ok:
                log.info("kafka_available", missing_topics=len(self.wanted - existing))
            self.broker_ok = True
            missing = self.wanted - existing
            if missing:
                log.warning("kafka_topics_missing", topics=sorted(missing), provision=self.provision)
                if self.provision:
                    created = await ensure_topics(self.settings, force=True)
                    log.warning("kafka_topics_provisioned", created=len(created))
                    self._listing = None  # out of date: ``_missing`` lists them again
            markers = sorted(t for t in existing if t.startswith(INCARNATION_PREFIX))
            if not markers and self.provision:
                markers = [await self._create_marker(admin)]
            if self.incarnation is not None and self.incarnation not in existing:
                self.lost_state += 1
                self._rewind_until = time.monotonic() + self.rewind_s
                log.warning("kafka_lost_its_state", previous=self.incarnation, now=markers[0] if markers else None)
                self.incarnation = markers[0] if markers else None
                if self.on_lost_state is not None:
                    await self.on_lost_state()
            elif self.incarnation is None and markers:
                self.incarnation = markers[0]
            return self.incarnation

    async def before_send(self, topics: Iterable[str]) -> str | None:
        """Make sure the topics exist before records are sent to them; return the broker's incarnation.

        A listing less than ``check_s`` old serves (the relay asks around every batch: the last batch's
        ``after_acks`` has just listed them). Whatever happened to the broker since, ``after_acks``
        compares the incarnation after the acknowledgements with the one returned here."""
        listing = self._listing
        if listing is not None and self.incarnation is not None and time.monotonic() - listing[0] < self.check_s:
            incarnation: str | None = self.incarnation
            missing = set(topics) - listing[1]
        else:
            incarnation = await self.check()
            missing = await self._missing(topics)
        if missing:
            raise TopicsMissing(f"not on the broker (yet): {sorted(missing)}")
        return incarnation

    async def after_acks(self, topics: Iterable[str], incarnation: str | None) -> None:
        """Raise ``TopicsMissing`` if acknowledged records may not have reached the topics.

        The broker is asked about the batch's topics and the incarnation marker only (a small metadata
        request; listing every topic costs several times as much, on both sides, at every batch); if
        any of them is missing, the full ``check`` notices a lost state and re-provisions."""
        topics = set(topics)
        if incarnation is not None and self.incarnation == incarnation and (
                self._same_broker_since_listing() or not await self._absent(topics | {incarnation})):
            return
        if await self.check() != incarnation or await self._missing(topics):
            raise TopicsMissing("the broker lost its state while records were sent: sending them again")

    def _same_broker_since_listing(self) -> bool:
        """The producer's connections are the very ones open before the last listing, and still open:
        the broker they lead to has not restarted since it showed the incarnation (a restart breaks a
        connection), so the records they acknowledged reached that incarnation's topics. Saves the
        ``after_acks`` metadata request, one per outbox batch (measured in the open loop at 200
        orders/s: 0.7 of the services' 3.1 broker requests per order)."""
        before = self._connections_at_listing
        if not before or self.producer_connections is None:
            return False
        now = self.producer_connections()
        return len(now) == len(before) and all(a is b for a, b in zip(now, before, strict=True))

    async def close(self) -> None:
        await self._close_admin()

    async def _absent(self, topics: set[str]) -> set[str]:
        """Of ``topics``, those the broker does not know (asked about those only)."""
        admin = await self._admin_client()
        described = await admin.describe_topics(sorted(topics))
        return {t["topic"] for t in described if t["error_code"] != 0} | (topics - {t["topic"] for t in described})

    async def _missing(self, topics: Iterable[str]) -> set[str]:
        """Of ``topics``, those the broker lacks, as the ``check`` just before listed them (one metadata
        request, not two: the relay asks around every batch), or as listed now when that check
        provisioned topics."""
        if self._listing is None:
            admin = await self._admin_client()
            self._listing = (time.monotonic(), set(await admin.list_topics()))
        return set(topics) - self._listing[1]

    async def _create_marker(self, admin: AIOKafkaAdminClient) -> str:
        name = f"{INCARNATION_PREFIX}{uuid.uuid4().hex}"
        with contextlib.suppress(TopicAlreadyExistsError):
            await admin.create_topics([NewTopic(name, num_partitions=1, replication_factor=_replication(),
                                                topic_configs={"retention.ms": "60000"})])
        # whoever created one first: every guard of this incarnation settles on the smallest name
        markers = sorted(t for t in await admin.list_topics() if t.startswith(INCARNATION_PREFIX))
        return markers[0] if markers else name

    async def _admin_client(self) -> AIOKafkaAdminClient:
        if self._admin is None:
            admin = AIOKafkaAdminClient(bootstrap_servers=self.settings.bootstrap_servers, request_timeout_ms=5_000,
                                        **aiokafka_security(self.settings))
            await admin.start()
            self._admin = admin
        return self._admin

    async def _close_admin(self) -> None:
        admin, self._admin = self._admin, None
        if admin is not None:
            with contextlib.suppress(Exception):
                await admin.close()


def _replication() -> int:
    return int(os.environ.get("KAFKA_TOPIC_REPLICATION", "1"))


def _partitions_override() -> int | None:
    value = os.environ.get("KAFKA_TOPIC_PARTITIONS")
    return int(value) if value else None


# --------------------------------------------------------------------------- Strimzi resources and the CLI entry

#: The Strimzi API the rendered ``KafkaTopic`` resources use (``v1``: Strimzi 0.49 and later, required by 1.0).
STRIMZI_API_VERSION = "kafka.strimzi.io/v1"


def kafka_topic_resources(
    cluster: str, *, replicas: int, min_insync_replicas: int, labels: dict[str, str] | None = None
) -> list[dict[str, object]]:
    """The Strimzi ``KafkaTopic`` resources of the contract's topics (DLQs included), from ``topic_specs``.

    Rendered into ``deploy/k8s`` by ``deploy/render_topics.py``; a test keeps the committed files current.
    """
    resources: list[dict[str, object]] = []
    for name, partitions, config in topic_specs():
        resources.append({
            "apiVersion": STRIMZI_API_VERSION,
            "kind": "KafkaTopic",
            "metadata": {
                "name": name.replace(".", "-"),
                "labels": {"strimzi.io/cluster": cluster, **(labels or {})},
            },
            "spec": {
                "topicName": name,
                "partitions": partitions,
                "replicas": replicas,
                "config": {**{k: _config_value(v) for k, v in config.items()},
                           "min.insync.replicas": min_insync_replicas},
            },
        })
    return resources


def _config_value(value: str) -> int | str:
    return int(value) if value.isdigit() else value


async def _provision(attempts: int = 60) -> list[str]:
    """Create the missing topics, waiting for the broker to come up (a compose one-shot or a CI step)."""
    settings = KafkaSettings()
    for attempt in range(1, attempts + 1):
        try:
            return await ensure_topics(settings, force=True)
        except Exception as exc:
            if attempt == attempts:
                raise
            print(f"kafka not ready ({exc!r}), retrying", file=sys.stderr, flush=True)
            await asyncio.sleep(min(5.0, 0.5 * attempt))
    return []


def main(argv: list[str] | None = None) -> int:
    """``python -m shared.messaging.topics [provision|list]``: create the contract's topics, or print the table."""
    args = list(sys.argv[1:] if argv is None else argv)
    command = args[0] if args else "provision"
    if command == "list":
        for name, partitions, config in topic_specs(_partitions_override()):
            print(f"{name}\tpartitions={partitions}\t" + " ".join(f"{k}={v}" for k, v in sorted(config.items())))
        return 0
    if command == "provision":
        created = asyncio.run(_provision())
        print(f"topics: created {len(created)}: {', '.join(created) or '-'}", flush=True)
        return 0
    print("usage: python -m shared.messaging.topics [provision|list]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
