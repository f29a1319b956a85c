"""``backorder replay <topic> --to <service>``: re-feed a topic's history to one service's consumer group.

The group's committed offsets on the topic are moved back (to the beginning, or to the first record at or after
``--since``) with Kafka's own OffsetCommit request for an empty group, what ``kafka-consumer-groups.sh
--reset-offsets`` sends: a consumer of the group with the partitions assigned by hand, which never joins it. When
the service starts again it reads the topic from there; its inbox skips every message it had handled, so only
what its database lacks takes effect (a rebuilt database, a table a new release fills from old events).

The group must be empty: a member's next commit would overwrite the reset (the service's instances are stopped
first, docs/operations.md, "Replay a topic to backfill").
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime

import typer
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import OffsetAndMetadata
from rich.console import Console
from rich.table import Table

from backorder_cli import kafka
from shared.contract.topics import TOPICS_BY_NAME
from shared.messaging.broker import aiokafka_security
from shared.messaging.topics import partitions_of

console = Console()


class ReplayRefused(Exception):
    """The reset would not do what was asked: the reason, for the operator."""


@dataclass(frozen=True)
class Move:
    partition: int
    committed: int | None  # None: the group never committed on it
    target: int
    end: int

    @property
    def records(self) -> int:
        """How many records the group will read again."""
        return max(0, (self.committed if self.committed is not None else self.end) - self.target)


async def plan(topic: str, group: str, since: datetime | None = None) -> list[Move]:
    """Where each partition of ``topic`` goes for ``group``; refused when the group has members."""
    if topic not in TOPICS_BY_NAME and not topic.endswith(".dlq"):
        raise ReplayRefused(f"{topic} is not a topic of the contract")
    config = kafka.settings()
    admin = AIOKafkaAdminClient(bootstrap_servers=config.bootstrap_servers, **aiokafka_security(config))
    reader = kafka.consumer()
    await admin.start()
    await reader.start()
    try:
        described = (await admin.describe_consumer_groups([group]))[0].to_object()["groups"][0]
        if described["members"]:
            raise ReplayRefused(f"group {group} has {len(described['members'])} member(s) (state "
                                f"{described['state']}): stop the service's instances first")
        partitions = [TopicPartition(topic, p) for p in await partitions_of(config, topic)]
        if not partitions:
            raise ReplayRefused(f"no topic {topic} on the cluster")
        committed = await admin.list_consumer_group_offsets(group, partitions=partitions)
        if not any(o.offset >= 0 for o in committed.values()):
            raise ReplayRefused(f"group {group} has never read {topic}: is it the service that consumes it?")
        ends = await reader.end_offsets(partitions)
        if since is None:
            targets = await reader.beginning_offsets(partitions)
        else:
            found = await reader.offsets_for_times({tp: int(since.timestamp() * 1000) for tp in partitions})
            targets = {tp: found[tp].offset if found[tp] is not None else ends[tp] for tp in partitions}
        return [Move(tp.partition, committed[tp].offset if tp in committed and committed[tp].offset >= 0 else None,
                     targets[tp], ends[tp]) for tp in partitions]
    finally:
        await reader.stop()
        await admin.close()


async def reset(topic: str, group: str, moves: list[Move]) -> None:
    """Commit the planned offsets for the (empty) group."""
    config = kafka.settings()
    committer = AIOKafkaConsumer(bootstrap_servers=config.bootstrap_servers, group_id=group,
                                 enable_auto_commit=False, **aiokafka_security(config))
    await committer.start()
    try:
        committer.assign([TopicPartition(topic, m.partition) for m in moves])
        await committer.commit({TopicPartition(topic, m.partition): OffsetAndMetadata(m.target, "backorder replay")
                                for m in moves})
    finally:
        await committer.stop()


def replay(topic: str = typer.Argument(..., help="the topic to re-feed, e.g. catalog.events"),
           to: str = typer.Option(..., "--to", help="the service whose consumer group reads it again"),
           since: datetime | None = typer.Option(None, "--since",
                                                 help="only records from this time on (ISO 8601, UTC if no zone)"),
           group: str | None = typer.Option(None, "--group", help="the group id, when not the service's name"),
           dry_run: bool = typer.Option(False, "--dry-run", help="show the plan, move nothing")) -> None:
    """Re-feed a topic's history (or what came after --since) to one service's consumer group, for a backfill.

    Stop the service first; it reads the topic again when it starts, and its inbox skips what it had handled."""
    when = since.replace(tzinfo=UTC) if since is not None and since.tzinfo is None else since

    async def run() -> None:
        name = group or to
        try:
            moves = await plan(topic, name, when)
        except ReplayRefused as refused:
            console.print(f"[red]refused: {refused}[/red]")
            raise typer.Exit(2) from None
        table = Table(title=f"{topic} -> group {name}{' (dry run)' if dry_run else ''}")
        for column in ("partition", "committed", "from", "end", "records again"):
            table.add_column(column)
        for m in moves:
            table.add_row(str(m.partition), "-" if m.committed is None else str(m.committed), str(m.target),
                          str(m.end), str(m.records))
        console.print(table)
        if not dry_run:
            await reset(topic, name, moves)
            console.print(f"group {name} will read {sum(m.records for m in moves)} record(s) of {topic} again "
                          f"when {to} starts")

    asyncio.run(run())
