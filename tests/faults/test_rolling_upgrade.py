"""Rolling upgrade: the last release and this build side by side, the old instances stopped one by one.

What a Kubernetes rolling update does to each service, for all four at once: the release named first in
``CHANGELOG.md`` (its ``Commit:``, checked out with ``git worktree`` into a virtualenv of its own,
``devstack/release.py``) runs one instance of every service; the catalog, the stock and the first orders are
set up through it. Then this build starts one instance of every service in the same consumer groups, on the
same databases (its migrations run now, under the old build: expand, then contract) and topics, and the old
instances restart on the newer schema (what a crash or a rollback does). While
``ORDERS`` orders are published, with restocks, cancellations and new sellers mixed in, the old instances are
stopped with SIGTERM one by one, producers first and notifications last, so that the old notifications reads
what the new orders sends (``OrderRejected``: version 1 for one release, shared/contract/upcasting.py).

What must hold afterwards, as after a crash (``harness``): every order decided exactly once, every stock ledger
rebuilt to its levels and nothing oversold, every catalog command answered once, every email arrived once by
``Message-ID`` and none twice (a SIGTERM drains: no lease ends), nothing dead-lettered. And the mix must have
happened: each old instance handled messages after the new build had joined and migrated, and the old
notifications read rejections after the old orders was gone.

Left out of ``make test`` (marker ``upgrade``): ``make test-upgrade``, run by CI after ``make test-cluster``.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from devstack.client import PlatformClient
from devstack.contract_check import Release
from devstack.release import built, last_release
from devstack.stack import SERVICES, Build, Stack
from tests.faults import harness as h
from tests.faults.conftest import SHARED_ENV

pytestmark = [pytest.mark.integration, pytest.mark.faults, pytest.mark.upgrade]

ORDERS = 800
PER_SECOND = 60.0
SEED = 20261206
OLD, NEW = 0, 1  # instance numbers
#: at which order of the run each old instance is stopped: notifications, which reads every service's events, last;
#: catalog late enough that new sellers' commands (one every 50 orders) reached it after the new build joined
STOPS = {200: "inventory", 320: "orders", 560: "catalog", 720: "notifications"}


@pytest.fixture(scope="module")
def previous(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Release, Build, float]]:
    """The last release, checked out and installed; how long that took."""
    release = last_release()
    started = time.monotonic()
    with built(release, tmp_path_factory.mktemp("previous-release")) as build:
        yield release, build, time.monotonic() - started


async def metrics(stack: Stack, name: str, instance: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample an instance's ``/metrics`` shows, by name and labels."""
    async with aiohttp.ClientSession() as session, \
            session.get(stack.services[(name, instance)].url + "/metrics") as response:
        text = await response.text()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def total(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return sum(v for (n, ls), v in samples.items() if n == name and labels.items() <= dict(ls).items())


async def migrations(stack: Stack) -> dict[str, set[str]]:
    return {name: {r["version"] for r in await h.query(stack, name, "SELECT version FROM schema_migrations")}
            for name in SERVICES}


def runs(stack: Stack, name: str, instance: int, build: Build) -> bool:
    """The instance's process runs ``build``'s interpreter in ``build``'s source tree."""
    pid = stack.services[(name, instance)].proc.pid
    return (Path(f"/proc/{pid}/cwd").resolve() == build.root.resolve()
            and Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0] == str(build.python).encode())


async def test_rolling_upgrade_from_the_last_release_loses_and_doubles_nothing(
        stack: Stack, client: PlatformClient, previous: tuple[Release, Build, float]) -> None:
    release, build, build_s = previous
    stack.service_env_extra.update(SHARED_ENV)
    for name in SERVICES:
        stack.start_service(name, OLD, build=build)
    stack.wait_ready()
    assert all(runs(stack, name, OLD, build) for name in SERVICES)
    workload = h.Workload(client, n_orders=ORDERS, seed=SEED, backorder=60)
    await workload.setup()
    await workload.publish(per_second=PER_SECOND, count=40)  # the old build alone decides the first orders

    before = await migrations(stack)
    for name in SERVICES:
        stack.start_service(name, NEW)
    stack.wait_ready()
    expanded = {name: sorted(versions - before[name]) for name, versions in (await migrations(stack)).items()}
    assert [await h.readyz(stack, name, OLD) for name in SERVICES] == [200] * len(SERVICES)
    for name in SERVICES:  # an old instance that restarts now (a crash, a rollback) starts on the newer schema
        await asyncio.to_thread(stack.stop_service, name, OLD)
        stack.start_service(name, OLD)
    stack.wait_ready()
    assert all(runs(stack, name, OLD, build) for name in SERVICES)
    joined = {name: await metrics(stack, name, OLD) for name in SERVICES}

    stopped: dict[str, tuple[int | None, float, float, float]] = {}
    rejections_read_at: dict[str, float] = {}

    async def stop_old(i: int) -> None:
        name = STOPS.get(i)
        if name is None:
            return
        last = await metrics(stack, name, OLD)
        if name == "orders":  # from now on every OrderRejected comes from the new build
            rejections_read_at["orders_gone"] = total(await metrics(stack, "notifications", OLD),
                                                      "backorder_messages_handled_total", type="OrderRejected",
                                                      outcome="ok")
        if name == "notifications":
            rejections_read_at["notifications_gone"] = total(last, "backorder_messages_handled_total",
                                                             type="OrderRejected", outcome="ok")
        began = time.monotonic()
        code = await asyncio.to_thread(stack.stop_service, name, OLD)
        stopped[name] = (code, time.monotonic() - began,
                         total(last, "backorder_messages_handled_total", outcome="ok")
                         - total(joined[name], "backorder_messages_handled_total", outcome="ok"),
                         total(last, "backorder_batch_failures_total"))

    started = time.monotonic()
    await workload.publish(per_second=PER_SECOND, start=40, on_progress=stop_old)
    published_s = time.monotonic() - started
    await h.wait_for_decisions(stack, client, workload.sent.orders, within_s=150)
    verdict = h.Verdict()
    await h.decision_figures(stack, client, workload.sent.orders, verdict)
    await h.inventory_figures(stack, verdict, instance=NEW)
    await h.email_figures(stack, workload.sent.orders, verdict, within_s=90)
    verdict.dead_letters = h.dead_letters(client)
    settled_s = time.monotonic() - started

    answers: dict[tuple[str, str], set[str]] = defaultdict(set)  # (command, event type) -> event ids
    for o in client.observed:
        if o.topic == "catalog.events":
            answers[(str(o.value.get("causation_id")), o.type)].add(str(o.value["event_id"]))
    catalog_commands = {str(e.event_id) for e in workload.sent.catalog}
    versions = sorted({o.value["version"] for o in client.observed if o.type == "OrderRejected"})
    print(f"\nrolling upgrade from {release.version} ({release.commit[:12]}, built in {build_s:.1f}s): migrations "
          f"the new build applied under the old {expanded}; old instances stopped (exit code, seconds, messages "
          f"handled after the new build joined, batch failures) {stopped}; OrderRejected read by the old "
          f"notifications {rejections_read_at}, versions on the topic {versions}; {workload.sent.commands} commands "
          f"published in {published_s:.1f}s, settled after {settled_s:.1f}s; {verdict.summary()}")

    # first what says most: a message one build could not read, or a write the other's schema refused
    assert not verdict.dead_letters, [(o.topic, o.value.get("consumer"), o.value.get("reason"), o.value.get("error"))
                                      for o in verdict.dead_letters[:3]]
    assert list(stopped) == list(STOPS.values())
    assert all(code == 0 and failures == 0 for code, _, _, failures in stopped.values()), stopped
    assert all(after_join > 0 for _, _, after_join, _ in stopped.values()), stopped  # the builds did mix
    assert rejections_read_at["notifications_gone"] > rejections_read_at["orders_gone"], rejections_read_at
    assert versions == [1]
    assert catalog_commands <= {command for command, _ in answers}, "a catalog command never answered"
    assert not [key for key, ids in answers.items() if key[0] in catalog_commands and len(ids) > 1]
    h.assert_nothing_lost_or_doubled(verdict, duplicate_emails_allowed=0)
    assert verdict.accepted and verdict.rejected and verdict.backordered and verdict.cancelled  # the mix happened
