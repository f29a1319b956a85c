"""``make bench``: the flash-sale benchmark. Writes bench/results/latest.json, a PNG chart and a
line in bench/HISTORY.md. Targets are reported, never asserted here.

    python -m bench [--orders N] [--skus N] [--open-loop-rate R] [--open-loop-seconds S] [--skip-scale-out]
                    [--scale-out-orders N] [--per-message-orders N] [--replicated-orders N]
                    [--out DIR] [--history FILE] [--postgres-url URL] [--kafka-bootstrap HOST:PORT]

Each run (burst, burst on two instances, open loop, ceilings) gets a fresh Apache Kafka broker (the
dev stack's, KRaft, one node), fresh databases and fresh service processes. ``--postgres-url`` puts
the databases on that server (each run its own, dropped after it) instead of an embedded server per
run. ``--kafka-bootstrap`` runs them all on that Kafka cluster instead of a broker per run: each
run's service processes are new, but their consumer groups resume where the previous run's stopped,
and each run sells on a seller and SKUs of its own, so no run sees another's orders. Topics the
cluster has already keep their partitions.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

from bench.ceilings import bare_hops_latency, per_order_transactions, transport_round_trip
from bench.flash_sale import HOPS, OBSERVER_FETCH_WAIT_MS, FlashSale, Shape, hop_latencies, percentiles
from devstack.broker import kafka_version
from devstack.postgres import DURABLE
from devstack.stack import SERVICES, Stack, database_name

HERE = Path(__file__).parent
TARGETS = {"ratio_vs_per_message_tx": 3.0, "ratio_vs_per_order_tx": 1.0, "open_loop_p99_ms": 150.0,
           "open_loop_p99_vs_bare_hops": 2.0, "open_loop_cpu_ms_per_order_total": 5.0, "oversold": 0, "duplicates": 0,
           "rss_mb": 150.0, "seconds": 360.0}
#: the per-message peer's burst: the same platform, one record per consumed batch (one transaction per message,
#: as a FastStream subscriber handles it by default); shorter, as it is several times slower
PER_MESSAGE_ORDERS = 1_000
#: the replicated run's burst: the price of durability, on 3 brokers (replication 3, min.insync.replicas 2,
#: acks=all), shorter than the main burst (the three brokers share the same two cores)
REPLICATED_ORDERS = 3_000
#: the burst on two instances per service: on two cores it shows what a second instance costs, not a
#: gain, and half the main burst's orders decide at the same steady rate. Each run's wall time is mostly
#: the emails' drain (every decision, accepted or rejected, is emailed), so halving the orders halves it
SCALE_OUT_ORDERS = 10_000
#: the burst with PostgreSQL's production settings (fsync, synchronous_commit, full_page_writes on): the price of
#: durability, beside the other runs' fast settings (``devstack.postgres.FAST``)
DURABLE_ORDERS = 3_000
#: the quiet afternoon: an open loop at this rate beside the 200 orders/s one (what an order costs when every
#: order is its own batch)
QUIET_RATE = 50.0
#: each open loop is preceded by this long at its rate, unmeasured, on a sale of its own: the broker's JIT
#: compiles its hot paths in the first minute of a fresh broker (figures in docs/scaling.md)
WARMUP_SECONDS = 20.0
#: the idle stack is measured this long, before the quiet open loop
IDLE_SECONDS = 10.0
#: the ceilings' loops (one transaction per order, the transport round trip): rates steady well before this
CEILING_ORDERS = 10_000


#: Partitions per topic in the benchmark's stacks: as many as the most instances of a service it runs (two).
#: The production topic table has 6 for room to grow; on one machine more partitions than consumers buy
#: nothing, and every fetch request costs the broker work per partition it names.
PARTITIONS = 2


def _stack(root: Path, postgres_url: str, partitions: int, kafka_bootstrap: str = "",
           env: dict[str, str] | None = None, brokers: int = 1, durable: bool = False) -> Stack:
    """A fresh stack; on a given PostgreSQL server, databases of its own (``bench<random>_<service>``)."""
    stack = Stack(root, kafka_bootstrap=kafka_bootstrap, brokers=brokers,
                  postgres_durability=dict(DURABLE) if durable else None) if not postgres_url else Stack(
        root, kafka_bootstrap=kafka_bootstrap, brokers=brokers, postgres_url=postgres_url,
        db_prefix=f"bench{uuid.uuid4().hex[:8]}")
    stack.service_env_extra["KAFKA_TOPIC_PARTITIONS"] = str(partitions)  # the services provision the topics
    stack.service_env_extra.update(env or {})
    return stack


def _drop_databases(stack: Stack) -> None:
    if not stack.postgres_url:
        return  # an embedded server: it goes with the run's directory

    async def drop() -> None:
        conn = await asyncpg.connect(stack.database_url)
        try:
            for service in SERVICES:
                await conn.execute(f'DROP DATABASE IF EXISTS "{database_name(service, stack.db_prefix)}" WITH (FORCE)')
        finally:
            await conn.close()

    asyncio.run(drop())


@contextmanager
def fresh_stack(root: Path, postgres_url: str, instances: int = 0, partitions: int = PARTITIONS,
                kafka_bootstrap: str = "", env: dict[str, str] | None = None, brokers: int = 1,
                durable: bool = False) -> Iterator[Stack]:
    """``brokers`` Kafka nodes (unless ``kafka_bootstrap`` names a cluster), databases (with ``durable``, an
    embedded PostgreSQL with its production settings) and, with ``instances``, that many processes of each
    service (with ``env`` in their environment), all new."""
    stack = _stack(root, postgres_url, partitions, kafka_bootstrap, env, brokers, durable)
    try:
        stack.start_infra()
        if instances:
            stack.start_all(instances=instances)
        yield stack
    finally:
        stack.stop_all()
        _drop_databases(stack)


def flash_sale(stack: Stack, shape: Shape, rate: float | None = None, seconds: float | None = None,
               idle_s: float = 0.0, warmup_s: float = 0.0) -> dict[str, Any]:
    """A flash sale on its own seller and SKUs: the burst, or ``rate`` orders/s for ``seconds`` (with the
    decision latency's breakdown per hop); with ``idle_s``, the seeded stack is first measured at rest.
    With ``warmup_s``, an open loop at the same rate on a sale of its own runs first, unmeasured: a fresh
    broker spends its first minute compiling its hot paths (the JIT), a cost a running broker has paid."""
    if warmup_s and rate:
        warmup = FlashSale(stack, shape)
        asyncio.run(warmup.seed())
        asyncio.run(warmup.run(warmup.orders(int(rate * warmup_s)), rate_per_s=rate))
    sale = FlashSale(stack, shape)
    seeding = time.monotonic()
    asyncio.run(sale.seed())
    seed_s = round(time.monotonic() - seeding, 1)
    at_rest = asyncio.run(sale.idle(idle_s)) if idle_s else None
    count = int(rate * seconds) if rate and seconds else shape.orders
    figures = asyncio.run(sale.run(sale.orders(count), rate_per_s=rate))
    figures["seed_s"] = seed_s
    if at_rest is not None:
        figures["idle"] = at_rest
    if rate:
        figures["hops_ms"] = asyncio.run(hop_latencies(stack.kafka_bootstrap, set(sale.obs.decided_at)))
    return figures


def open_loop_shape(shape: Shape, rate: float, seconds: float) -> Shape:
    """The scenario at its open-loop size: the hot SKU's regular stock covers 60% of the hot orders, so
    the open loop sells into backorder too and its backorder emails are measured under normal load."""
    hot_orders = int(rate * seconds * shape.hot_share)
    return replace(shape, hot_regular=min(shape.hot_regular, int(hot_orders * 0.6)))


#: the latency floor runs this long at most (its percentiles settle within seconds at the open loop's rate)
FLOOR_SECONDS = 10.0


def measure_ceilings(stack: Stack, orders: int, message_size: int, rate: float, seconds: float) -> dict[str, Any]:
    dsn = stack.dsn("inventory")
    one = asyncio.run(per_order_transactions(dsn, orders, 1))
    eight = asyncio.run(per_order_transactions(dsn, orders, 8))
    transport = asyncio.run(transport_round_trip(stack.kafka_bootstrap, orders, message_size))
    floor = asyncio.run(bare_hops_latency(stack.kafka_bootstrap, hops=len(HOPS), rate_per_s=rate,
                                          seconds=min(seconds, FLOOR_SECONDS), partitions=PARTITIONS,
                                          observer_wait_ms=OBSERVER_FETCH_WAIT_MS, size=message_size))
    return {"per_order_tx_1_conn_per_s": round(one, 1), "per_order_tx_8_conn_per_s": round(eight, 1),
            "transport_msgs_per_s": round(transport, 1), "bare_hops_latency_ms": percentiles(floor)}


def peak_rss(*runs: dict[str, Any] | None, broker: bool = False) -> dict[str, float]:
    """Peak RSS per service (MB), over its instances and the runs; with ``broker``, the broker's alone."""
    peaks: dict[str, float] = {}
    for run in runs:
        for process, mb in (run or {}).get("rss_mb", {}).items():
            if (process == "kafka") != broker:
                continue
            service = process.rsplit("-", 1)[0]
            peaks[service] = max(peaks.get(service, 0.0), mb)
    return dict(sorted(peaks.items()))


def _ratio(value: float | None, floor: float | None) -> float | None:
    return round(value / floor, 2) if value is not None and floor else None


def cpu_total(run: dict[str, Any]) -> float:
    """CPU milliseconds per order of the whole stack (services, broker, PostgreSQL, SMTP), the load generator
    excluded."""
    return round(sum(ms for process, ms in run["cpu_ms_per_order"].items() if process != "bench"), 3)


def commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def chart(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right, costs, emails) = plt.subplots(1, 4, figsize=(21, 4))
    names = ["platform\n(burst)", "1 tx/order\n1 conn", "1 tx/order\n8 conn"]
    values = [result["decided_per_s"], result["ceilings"]["per_order_tx_1_conn_per_s"],
              result["ceilings"]["per_order_tx_8_conn_per_s"]]
    left.bar(names, values, color=["#2a7", "#999", "#bbb"])
    left.set_ylabel("orders decided per second")
    left.set_title(f"throughput (ratio {result['ratio_vs_per_order_tx']:.2f})")
    runs = {"burst": result["latency_ms"]["burst"], "open loop": result["latency_ms"]["open_loop"]}
    xs = range(3)
    for offset, (label, lat) in enumerate(runs.items()):
        right.bar([x + offset * 0.4 for x in xs], [lat["p50"] or 0, lat["p95"] or 0, lat["p99"] or 0], width=0.4,
                  label=label)
    right.set_xticks([x + 0.2 for x in xs], ["p50", "p95", "p99"])
    right.set_yscale("log")
    right.set_ylabel("PlaceOrder -> decision (ms)")
    right.axhline(TARGETS["open_loop_p99_ms"], color="red", linestyle="--", linewidth=1, label="p99 target")
    floor = result["ceilings"]["bare_hops_latency_ms"]["p99"]
    if floor:
        right.axhline(floor, color="gray", linestyle=":", linewidth=1, label="p99 of the bare hops (open loop's rate)")
    right.legend()
    # where an order's CPU goes, per process, at each load (the bill's cpu_ms)
    loads = [name for name in ("burst", "open_loop", "open_loop_50") if result["bill"].get(name)]
    bottoms = [0.0] * len(loads)
    processes = sorted({p for name in loads for p in result["bill"][name]["cpu_ms"] if p != "bench"})
    for process in processes:
        values = [result["bill"][name]["cpu_ms"].get(process, 0.0) for name in loads]
        costs.bar(loads, values, bottom=bottoms, label=process)
        bottoms = [b + v for b, v in zip(bottoms, values, strict=True)]
    costs.set_ylabel("CPU ms per order")
    costs.set_title("where an order's CPU goes")
    costs.legend(fontsize=7)
    latency_panel(emails, result)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def latency_panel(axes: Any, result: dict[str, Any]) -> None:
    """Each run's decision latency beside its "on back order" email latency (from the order), p50 and p99."""
    runs = [name for name in ("burst", "open_loop", "open_loop_50") if name in result["latency_ms"]]
    width = 0.2
    bars = (("decision p50", "latency_ms", "p50"), ("decision p99", "latency_ms", "p99"),
            ("email p50", "email_latency_ms", "p50"), ("email p99", "email_latency_ms", "p99"))
    for n, (label, key, p) in enumerate(bars):
        axes.bar([x + n * width for x in range(len(runs))], [result[key][run][p] or 0 for run in runs], width=width,
                 label=label)
    axes.set_xticks([x + 1.5 * width for x in range(len(runs))], runs)
    axes.set_yscale("log")
    axes.set_ylabel("from PlaceOrder (ms)")
    rate = result.get("emails_per_s")
    axes.set_title(f"decision and email latency (burst drain {rate} emails/s)")
    axes.legend(fontsize=7)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--orders", type=int, default=20_000)
    parser.add_argument("--skus", type=int, default=Shape.skus)
    parser.add_argument("--open-loop-rate", type=float, default=200.0)
    parser.add_argument("--open-loop-seconds", type=float, default=30.0)
    parser.add_argument("--skip-scale-out", action="store_true")
    parser.add_argument("--scale-out-orders", type=int, default=SCALE_OUT_ORDERS,
                        help="orders of the burst on two instances per service (0: skip it)")
    parser.add_argument("--per-message-orders", type=int, default=PER_MESSAGE_ORDERS,
                        help="orders of the per-message peer's burst (0: skip it)")
    parser.add_argument("--replicated-orders", type=int, default=REPLICATED_ORDERS,
                        help="orders of the burst on a 3-broker cluster (0: skip it; skipped with --kafka-bootstrap)")
    parser.add_argument("--quiet-rate", type=float, default=QUIET_RATE,
                        help="orders/s of the second, quiet open loop (it runs as long as the first)")
    parser.add_argument("--warmup-seconds", type=float, default=WARMUP_SECONDS,
                        help="an unmeasured open loop at the same rate before each measured one (0: none)")
    parser.add_argument("--idle-seconds", type=float, default=IDLE_SECONDS,
                        help="how long the idle stack is measured, before the quiet open loop")
    parser.add_argument("--durable-orders", type=int, default=DURABLE_ORDERS,
                        help="orders of the burst with PostgreSQL's production settings (0: skip it; skipped "
                             "with --postgres-url)")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument("--history", type=Path, default=HERE / "HISTORY.md")
    parser.add_argument("--postgres-url", default="", help="a PostgreSQL server for the runs' databases")
    parser.add_argument("--kafka-bootstrap", default="", help="a Kafka cluster for every run, instead of "
                        "a broker of the dev stack per run")
    parser.add_argument("--one-stack", action="store_true",
                        help="the burst, the open loop and the ceilings on one stack (quicker; for trial runs)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    root = Path(tempfile.mkdtemp(prefix="backorder-bench-"))
    shape = Shape(orders=args.orders, skus=args.skus)
    pg = args.postgres_url
    infra = {"kafka_bootstrap": args.kafka_bootstrap}
    message_size = 600
    rate, seconds = args.open_loop_rate, args.open_loop_seconds
    try:
        with ExitStack() as shared:
            one = shared.enter_context(fresh_stack(root / "one", pg, instances=1, **infra)) if args.one_stack else None
            phases: dict[str, float] = {}
            mark = time.monotonic()
            print(f"burst: {shape.orders} orders, 1 instance per service ...", flush=True)
            with nullcontext(one) if one else fresh_stack(root / "burst", pg, instances=1, **infra) as stack:
                burst = flash_sale(stack, shape)
            phases["burst"], mark = round(time.monotonic() - mark, 1), time.monotonic()
            print(f"open loop: {rate}/s for {seconds}s ...", flush=True)
            with nullcontext(one) if one else fresh_stack(root / "open", pg, instances=1, **infra) as stack:
                open_loop = flash_sale(stack, open_loop_shape(shape, rate, seconds), rate=rate, seconds=seconds,
                                       warmup_s=args.warmup_seconds)
            phases["open_loop"], mark = round(time.monotonic() - mark, 1), time.monotonic()
            quiet = args.quiet_rate
            print(f"idle stack for {args.idle_seconds}s, then open loop: {quiet}/s for {seconds}s ...", flush=True)
            with nullcontext(one) if one else fresh_stack(root / "quiet", pg, instances=1, **infra) as stack:
                open_loop_50 = flash_sale(stack, open_loop_shape(shape, quiet, seconds), rate=quiet, seconds=seconds,
                                          idle_s=args.idle_seconds, warmup_s=args.warmup_seconds)
            phases["open_loop_50"], mark = round(time.monotonic() - mark, 1), time.monotonic()
            print("ceilings ...", flush=True)
            with nullcontext(one) if one else fresh_stack(root / "ceilings", pg, **infra) as stack:
                ceilings = measure_ceilings(stack, min(shape.orders, CEILING_ORDERS), message_size, rate, seconds)
            phases["ceilings"], mark = round(time.monotonic() - mark, 1), time.monotonic()
        per_message = None
        if args.per_message_orders:
            print(f"burst: {args.per_message_orders} orders, one record per batch (the per-message peer) ...",
                  flush=True)
            with fresh_stack(root / "per-message", pg, instances=1, env={"CONSUMER_BATCH_MAX": "1"},
                             **infra) as stack:
                per_message = flash_sale(stack, replace(shape, orders=args.per_message_orders))
            phases["per_message"], mark = round(time.monotonic() - mark, 1), time.monotonic()
        replicated = None
        if args.replicated_orders and not args.kafka_bootstrap:
            print(f"burst: {args.replicated_orders} orders on 3 brokers (replication 3, min ISR 2) ...", flush=True)
            with fresh_stack(root / "replicated", pg, instances=1, brokers=3) as stack:
                replicated = flash_sale(stack, replace(shape, orders=args.replicated_orders))
            phases["replicated"], mark = round(time.monotonic() - mark, 1), time.monotonic()
        durable = None
        if args.durable_orders and not pg:
            print(f"burst: {args.durable_orders} orders, PostgreSQL with fsync, synchronous_commit and "
                  "full_page_writes on ...", flush=True)
            with fresh_stack(root / "durable", pg, instances=1, durable=True, **infra) as stack:
                durable = flash_sale(stack, replace(shape, orders=args.durable_orders))
            phases["durable"], mark = round(time.monotonic() - mark, 1), time.monotonic()
        scale_out = None
        if args.scale_out_orders and not args.skip_scale_out:
            print(f"burst: {args.scale_out_orders} orders, 2 instances per service ...", flush=True)
            with fresh_stack(root / "scale", pg, instances=2, **infra) as stack:
                scale_out = flash_sale(stack, replace(shape, orders=args.scale_out_orders))
            phases["scale_out"] = round(time.monotonic() - mark, 1)
    finally:
        shutil.rmtree(root, ignore_errors=True)

    ceiling = max(ceilings["per_order_tx_1_conn_per_s"], ceilings["per_order_tx_8_conn_per_s"])
    runs = (burst, open_loop, open_loop_50)
    result: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": commit(),
        "orders": burst["orders"],
        "decided_per_s": burst["decided_per_s"],
        "ceiling_per_order_tx_per_s": ceiling,
        "ratio_vs_per_order_tx": round(burst["decided_per_s"] / ceiling, 2),
        "per_message_decided_per_s": (per_message_rate := per_message["decided_per_s"] if per_message else None),
        "ratio_vs_per_message_tx": _ratio(burst["decided_per_s"], per_message_rate),
        "cpu_ms_per_order_total": {"burst": cpu_total(burst), "open_loop": cpu_total(open_loop),
                                   "open_loop_50": cpu_total(open_loop_50)},
        "replicated_3_brokers_decided_per_s": replicated["decided_per_s"] if replicated else None,
        "transport_msgs_per_s": ceilings["transport_msgs_per_s"],
        "latency_ms": {"burst": burst["latency_ms"], "open_loop": open_loop["latency_ms"],
                       "open_loop_50": open_loop_50["latency_ms"]},
        "email_latency_ms": {"burst": burst["email_latency_ms"], "open_loop": open_loop["email_latency_ms"],
                             "open_loop_50": open_loop_50["email_latency_ms"]},
        # the burst's email drain, first email to last, and what an email costs notifications (issue 27)
        "emails_per_s": burst["emails_per_s"],
        "notifications_cpu_ms_per_email": {"burst": burst["notifications_cpu_ms_per_email"],
                                           "open_loop": open_loop["notifications_cpu_ms_per_email"],
                                           "open_loop_50": open_loop_50["notifications_cpu_ms_per_email"]},
        "oversold": sum(run["oversold"] for run in (*runs, scale_out, per_message, replicated, durable) if run),
        "duplicates": sum(run["duplicates"] for run in (*runs, scale_out, per_message, replicated, durable) if run),
        "rss_mb": peak_rss(burst, scale_out, open_loop, open_loop_50),
        "broker_rss_mb": peak_rss(burst, scale_out, open_loop, open_loop_50, broker=True).get("kafka"),
        "cpu_ms_per_order": {"burst": burst["cpu_ms_per_order"], "open_loop": open_loop["cpu_ms_per_order"],
                             "open_loop_50": open_loop_50["cpu_ms_per_order"]},
        # what an order costs, counted (bench/bill.py): per run, per order and per process or service
        "bill": {"burst": burst["bill"], "open_loop": open_loop["bill"], "open_loop_50": open_loop_50["bill"],
                 "burst_durable": durable["bill"] if durable else None, "idle": open_loop_50.get("idle")},
        "postgres_settings": burst["bill"]["postgres_settings"],
        "durable_burst_decided_per_s": durable["decided_per_s"] if durable else None,
        "open_loop_hops_ms": open_loop["hops_ms"],
        # the open loop's p99 over the same hops' p99 with no work in them (the broker's floor, same run)
        "open_loop_p99_vs_bare_hops": _ratio(open_loop["latency_ms"]["p99"], ceilings["bare_hops_latency_ms"]["p99"]),
        "ceilings": ceilings,
        "runs": {"burst": burst, "scale_out_2_instances": scale_out, "open_loop": open_loop,
                 "open_loop_50": open_loop_50, "burst_durable": durable,
                 "per_message_1_record_per_batch": per_message, "replicated_3_brokers": replicated},
        "targets": TARGETS,
        "partitions_per_topic": PARTITIONS,
        "broker": args.kafka_bootstrap or f"Apache Kafka {kafka_version()} (KRaft, one node), one per run",
        "seconds": round(time.monotonic() - started, 1),
        "phases_s": phases,
    }
    result["targets_met"] = {
        "ratio_vs_per_message_tx": (result["ratio_vs_per_message_tx"] or 0) >= TARGETS["ratio_vs_per_message_tx"],
        "ratio_vs_per_order_tx": result["ratio_vs_per_order_tx"] >= TARGETS["ratio_vs_per_order_tx"],
        "open_loop_p99_ms": (open_loop["latency_ms"]["p99"] or float("inf")) <= TARGETS["open_loop_p99_ms"],
        "open_loop_p99_vs_bare_hops": (result["open_loop_p99_vs_bare_hops"] or float("inf"))
        <= TARGETS["open_loop_p99_vs_bare_hops"],
        "open_loop_cpu_ms_per_order_total": result["cpu_ms_per_order_total"]["open_loop"]
        <= TARGETS["open_loop_cpu_ms_per_order_total"],
        "oversold": result["oversold"] == 0,
        "duplicates": result["duplicates"] == 0,
        "rss_mb": all(v <= TARGETS["rss_mb"] for v in result["rss_mb"].values()),
        "seconds": result["seconds"] <= TARGETS["seconds"],
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "latest.json").write_text(json.dumps(result, indent=2, allow_nan=False) + "\n")
    chart(result, args.out / "latest.png")
    line = (f"| {result['date']} | {result['commit']} | {result['orders']} | {result['decided_per_s']} | "
            f"{result['ratio_vs_per_order_tx']} | {open_loop['latency_ms']['p99']} | {burst['latency_ms']['p99']} | "
            f"{result['oversold']} | {result['duplicates']} | {max(result['rss_mb'].values(), default=0)} |\n")
    if not args.history.exists():
        args.history.write_text(
            "| date | commit | orders | decided/s | ratio vs 1 tx/order | open-loop p99 ms | burst p99 ms | "
            "oversold | duplicates | peak RSS MB |\n|---|---|---|---|---|---|---|---|---|---|\n"
        )
    with args.history.open("a") as history:
        history.write(line)
    print(json.dumps({run: {k: v for k, v in (bill or {}).items() if k.endswith("total") or k == "pg_round_trips"}
                      for run, bill in result["bill"].items()}, indent=2))
    print(json.dumps({k: result[k] for k in ("orders", "decided_per_s", "ceiling_per_order_tx_per_s",
                                             "ratio_vs_per_order_tx", "per_message_decided_per_s",
                                             "ratio_vs_per_message_tx", "cpu_ms_per_order_total",
                                             "replicated_3_brokers_decided_per_s", "latency_ms",
                                             "email_latency_ms", "emails_per_s", "notifications_cpu_ms_per_email",
                                             "durable_burst_decided_per_s",
                                             "open_loop_p99_vs_bare_hops", "oversold", "duplicates", "rss_mb",
                                             "broker_rss_mb", "targets_met", "seconds")}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
