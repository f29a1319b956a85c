"""The bill of a benchmark run: what an order costs, counted rather than timed.

CPU milliseconds drift with a shared machine; round trips and requests do not. A reading is taken before
and after a run, and the bill is their difference per order:

* ``cpu_ms``: CPU time of each process of the stack (psutil), PostgreSQL with its backends;
* ``pg_round_trips``: the TCP segments with data each service sent to PostgreSQL's port, from the kernel's
  own per-socket counters (``ss -ti``'s ``data_segs_out``; every request a client makes is one write of a
  few hundred bytes, so one segment on loopback). The same figure as counting ``sendto`` with strace,
  without slowing the process down. A connection opened and closed within the run is not seen;
* ``kafka_sends``: the same, to the brokers' ports;
* ``pg_statements`` and ``pg_transactions`` per service database: ``pg_stat_statements``' calls (``BEGIN``
  and ``COMMIT`` included) and ``pg_stat_database``'s commits and rollbacks;
* ``kafka_requests``: the requests the brokers served, by API key (Produce, Fetch, OffsetCommit, ...), from
  their own ``kafka.network:type=RequestMetrics,name=RequestsPerSec`` meters, read over JMX with Kafka's
  JmxTool.

To rerun a count by hand: ``ss -tinpH 'dport = :<port>'`` for the sends, ``SELECT d.datname, sum(calls) FROM
pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid GROUP BY 1`` for the statements.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import re
import subprocess
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import psutil

from devstack.stack import SERVICES, Stack, database_name

#: ``pg_stat_database`` is written by each backend at most once a second: a reading waits that long
STATS_DELAY_S = 1.2
#: ``ss -tinpH state established``: "Recv-Q Send-Q local:port peer:port users:(("name",pid=N,fd=N))", then a
#: line of TCP information
_SOCKET = re.compile(r"\S+:(\d+)\s+\S+:(\d+)\s+users:\(\(\"[^\"]*\",pid=(\d+)")
_METER = re.compile(r"request=([^,:]+).*:Count,\"?([0-9.E]+)\"?$")
_SEGMENTS = re.compile(r"\bdata_segs_out:(\d+)")


@dataclass
class Reading:
    at: float = field(default_factory=time.monotonic)
    cpu_s: dict[str, float] = field(default_factory=dict)
    #: process -> peer ("postgres", "kafka") -> data segments sent
    sends: dict[str, dict[str, int]] = field(default_factory=dict)
    #: service -> {"statements": n, "transactions": n}
    pg: dict[str, dict[str, int]] = field(default_factory=dict)
    #: API key -> requests served
    kafka_requests: dict[str, int] = field(default_factory=dict)
    #: the PostgreSQL server's durability settings (fsync, synchronous_commit, full_page_writes)
    pg_settings: dict[str, str] = field(default_factory=dict)


def processes(stack: Stack) -> dict[str, list[psutil.Process]]:
    """Each process of the stack by name (a service's instance, the broker's nodes together, PostgreSQL with
    its backends, the SMTP catcher); ``bench`` is this load generator."""
    found: dict[str, list[psutil.Process]] = {"bench": [psutil.Process(os.getpid())]}
    roots: dict[str, list[int]] = {f"{s.name}-{s.instance}": [s.proc.pid] for s in stack.services.values()}
    if stack.kafka is not None:
        roots["kafka"] = [node.proc.pid for node in stack.kafka.nodes if node.proc is not None]
    for name, part in (("postgres", stack.postgres), ("smtp", stack.smtp)):
        if part is not None and part.proc is not None:
            roots[name] = [part.proc.pid]
    for name, pids in roots.items():
        with contextlib.suppress(psutil.Error):
            found[name] = [child for pid in pids for process in [psutil.Process(pid)]
                           for child in (process, *process.children(recursive=True))]
    return found


def cpu_seconds(stack: Stack) -> dict[str, float]:
    used = {"bench": sum(os.times()[:2])}
    for name, family in processes(stack).items():
        if name == "bench":
            continue
        with contextlib.suppress(psutil.Error):
            used[name] = sum(sum(p.cpu_times()[:2]) for p in family if p.is_running())
    return used


def _port(url: str) -> int:
    match = re.search(r":(\d+)(?:/|$)", url.split("@")[-1])
    return int(match.group(1)) if match else 5432


def socket_sends(stack: Stack) -> dict[str, dict[str, int]]:
    """Data segments each service process has sent on its open connections to PostgreSQL and to Kafka."""
    peers = {_port(stack.database_url): "postgres"}
    peers.update({int(b.rsplit(":", 1)[1]): "kafka" for b in stack.kafka_bootstrap.split(",") if ":" in b})
    owner = {s.proc.pid: f"{s.name}-{s.instance}" for s in stack.services.values()}
    try:
        out = subprocess.run(["ss", "-tinpH", "state", "established"], capture_output=True, text=True,
                             timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    sends: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    lines = out.splitlines()
    for head, info in itertools.pairwise(lines):
        socket, segments = _SOCKET.search(head), _SEGMENTS.search(info)
        if socket is None or segments is None:
            continue
        peer, pid = peers.get(int(socket.group(2))), int(socket.group(3))
        if peer is not None and pid in owner:
            sends[owner[pid]][peer] += int(segments.group(1))
    return {name: dict(by_peer) for name, by_peer in sends.items()}


SUBKINDS = ("FetchConsumer", "FetchFollower")
DURABILITY = ("fsync", "synchronous_commit", "full_page_writes")


async def pg_counters(stack: Stack) -> tuple[dict[str, dict[str, int]], dict[str, str]]:
    """Statements and transactions per service database, and the server's durability settings. Statements
    need ``pg_stat_statements`` in ``shared_preload_libraries`` (the dev stack's server has it; on a given
    server without it they read 0)."""
    conn = await asyncpg.connect(stack.database_url)
    try:
        settings = {r["name"]: r["setting"] for r in await conn.fetch(
            "SELECT name, setting FROM pg_settings WHERE name = any($1::text[])", list(DURABILITY))}
        statements: dict[str, int] = {}
        try:
            await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            statements = {r[0]: r[1] for r in await conn.fetch(
                "SELECT d.datname, sum(s.calls)::bigint FROM pg_stat_statements s JOIN pg_database d ON d.oid = "
                "s.dbid GROUP BY d.datname")}
        except asyncpg.PostgresError:
            pass
        transactions: dict[str, int] = {r[0]: r[1] for r in await conn.fetch(
            "SELECT datname, xact_commit + xact_rollback FROM pg_stat_database WHERE datname IS NOT NULL")}
    finally:
        await conn.close()
    names = {service: database_name(service, stack.db_prefix) for service in SERVICES}
    return {service: {"statements": int(statements.get(db, 0)), "transactions": int(transactions.get(db, 0))}
            for service, db in names.items()}, settings


def kafka_requests(stack: Stack) -> dict[str, int]:
    """Requests served by the stack's own brokers, by API key, over all their versions (empty for a cluster
    given with ``--kafka-bootstrap``: its JMX is not ours to reach)."""
    if stack.kafka is None:
        return {}
    served: dict[str, int] = defaultdict(int)
    for node in stack.kafka.nodes:
        if not node.running:
            continue
        try:
            out = node.jmx_query("kafka.network:type=RequestMetrics,name=RequestsPerSec,*", "Count")
        except (OSError, subprocess.SubprocessError):
            continue
        for line in out.splitlines():  # one meter a line: '<object name>:Count,"<value>"'
            meter = _METER.search(line)
            if meter is not None:
                served[meter.group(1)] += int(float(meter.group(2)))
    return dict(served)


async def read(stack: Stack, *, opening: bool = False) -> Reading:
    """A reading of every counter. The database's statistics trail by up to a second, and the brokers' meters
    take a JVM's start to read: a reading that opens a window takes them first and the CPU and sockets last,
    one that closes it the other way round, so the window's CPU is the run's alone."""
    if opening:
        brokers = asyncio.get_running_loop().run_in_executor(None, kafka_requests, stack)
        (pg, settings), requests = await pg_counters(stack), await brokers
        return Reading(cpu_s=cpu_seconds(stack), sends=socket_sends(stack), pg=pg, kafka_requests=requests,
                       pg_settings=settings)
    reading = Reading(cpu_s=cpu_seconds(stack), sends=socket_sends(stack))
    brokers = asyncio.get_running_loop().run_in_executor(None, kafka_requests, stack)
    await asyncio.sleep(STATS_DELAY_S)
    reading.pg, reading.pg_settings = await pg_counters(stack)
    reading.kafka_requests = await brokers
    return reading


def _service(process: str) -> str:
    return process.rsplit("-", 1)[0]


def _per(value: float, orders: int) -> float:
    return round(value / orders, 3)


def bill(before: Reading, after: Reading, orders: int) -> dict[str, Any]:
    """What each order cost between two readings, per process (CPU, sends) and per service (statements,
    transactions, round trips summed over its instances); ``kafka_requests`` by API key."""
    orders = max(orders, 1)
    cpu = {name: round((after.cpu_s[name] - used) * 1000 / orders, 3)
           for name, used in sorted(before.cpu_s.items()) if name in after.cpu_s}
    sends: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for process, by_peer in after.sends.items():
        for peer, n in by_peer.items():
            sends[peer][_service(process)] += n - before.sends.get(process, {}).get(peer, 0)
    requests = {api: _per(n - before.kafka_requests.get(api, 0), orders)
                for api, n in sorted(after.kafka_requests.items()) if n > before.kafka_requests.get(api, 0)}
    # FetchConsumer and FetchFollower are the two kinds of Fetch: counted in it already
    served = sum(n for api, n in requests.items() if api not in SUBKINDS)
    pg = {kind: {service: _per(counts[kind] - before.pg.get(service, {}).get(kind, 0), orders)
                 for service, counts in sorted(after.pg.items())} for kind in ("statements", "transactions")}
    round_trips = {service: _per(n, orders) for service, n in sorted(sends["postgres"].items())}
    return {
        "orders": orders,
        "cpu_ms": cpu,
        "cpu_ms_total": round(sum(ms for name, ms in cpu.items() if name != "bench"), 3),
        "pg_round_trips": round_trips,
        "pg_round_trips_total": round(sum(round_trips.values()), 2),
        "pg_statements": pg["statements"],
        "pg_transactions": pg["transactions"],
        "kafka_sends": {service: _per(n, orders) for service, n in sorted(sends["kafka"].items())},
        "kafka_requests": requests,
        "kafka_requests_total": round(served, 2),
        "postgres_settings": after.pg_settings,
    }


def idle(before: Reading, after: Reading) -> dict[str, Any]:
    """The idle stack: cores each process keeps busy, and the requests per second the brokers serve."""
    seconds = max(after.at - before.at, 1e-9)
    cores = {name: round((after.cpu_s[name] - used) / seconds, 4)
             for name, used in sorted(before.cpu_s.items()) if name in after.cpu_s and name != "bench"}
    requests = {api: round((n - before.kafka_requests.get(api, 0)) / seconds, 2)
                for api, n in sorted(after.kafka_requests.items()) if n > before.kafka_requests.get(api, 0)}
    return {"seconds": round(seconds, 1), "cores": cores, "cores_total": round(sum(cores.values()), 3),
            "kafka_requests_per_s": requests}
