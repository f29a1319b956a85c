"""``make bench``: the flash-sale benchmark. Writes bench/results/latest.json, a PNG chart and a
line in bench/HISTORY.md. Targets are reported, never asserted here.

    python -m bench [--orders N] [--open-loop-rate R] [--open-loop-seconds S] [--skip-scale-out]
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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.ceilings import per_order_transactions, transport_round_trip
from bench.flash_sale import FlashSale, Shape
from devstack.stack import Stack, with_database

HERE = Path(__file__).parent
TARGETS = {"ratio_vs_per_order_tx": 1.5, "open_loop_p99_ms": 150.0, "oversold": 0, "duplicates": 0, "rss_mb": 150.0}


def run_flash_sale(root: Path, shape: Shape, instances: int, rate: float | None = None,
                   seconds: float | None = None) -> dict[str, Any]:
    stack = Stack(root)
    try:
        stack.start_infra()
        stack.start_all(instances=instances)
        sale = FlashSale(stack, shape)
        asyncio.run(sale.seed())
        count = int(rate * seconds) if rate and seconds else shape.orders
        return asyncio.run(sale.run(sale.orders(count), rate_per_s=rate))
    finally:
        stack.stop_all()


def measure_ceilings(root: Path, orders: int, message_size: int) -> dict[str, float]:
    stack = Stack(root)
    try:
        stack.start_infra()
        dsn = with_database(stack.database_url, "backorder_inventory")
        one = asyncio.run(per_order_transactions(dsn, orders, 1))
        eight = asyncio.run(per_order_transactions(dsn, orders, 8))
        transport = asyncio.run(transport_round_trip(stack.kafka_bootstrap, orders, message_size))
    finally:
        stack.stop_all()
    return {"per_order_tx_1_conn_per_s": round(one, 1), "per_order_tx_8_conn_per_s": round(eight, 1),
            "transport_msgs_per_s": round(transport, 1)}


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

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    names = ["platform\n(burst)", "1 tx/order\n1 conn", "1 tx/order\n8 conn"]
    values = [result["decided_per_s"], result["ceilings"]["per_order_tx_1_conn_per_s"],
              result["ceilings"]["per_order_tx_8_conn_per_s"]]
    left.bar(names, values, color=["#2a7", "#999", "#bbb"])
    left.set_ylabel("orders decided per second")
    left.set_title(f"throughput (ratio {result['ratio_vs_per_order_tx']:.2f})")
    runs = {"burst": result["latency_ms"]["burst"], "open loop": result["latency_ms"]["open_loop"]}
    xs = range(3)
    for offset, (label, lat) in enumerate(runs.items()):
        right.bar([x + offset * 0.4 for x in xs], [lat["p50"], lat["p95"], lat["p99"]], width=0.4, label=label)
    right.set_xticks([x + 0.2 for x in xs], ["p50", "p95", "p99"])
    right.set_yscale("log")
    right.set_ylabel("PlaceOrder -> decision (ms)")
    right.axhline(TARGETS["open_loop_p99_ms"], color="red", linestyle="--", linewidth=1, label="p99 target")
    right.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--orders", type=int, default=20_000)
    parser.add_argument("--open-loop-rate", type=float, default=200.0)
    parser.add_argument("--open-loop-seconds", type=float, default=30.0)
    parser.add_argument("--skip-scale-out", action="store_true")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument("--history", type=Path, default=HERE / "HISTORY.md")
    args = parser.parse_args(argv)
    started = time.monotonic()
    root = Path(tempfile.mkdtemp(prefix="backorder-bench-"))
    shape = Shape(orders=args.orders)
    try:
        print(f"burst: {shape.orders} orders, 1 instance per service ...", flush=True)
        burst = run_flash_sale(root / "burst", shape, instances=1)
        scale_out = None
        if not args.skip_scale_out:
            print("burst: 2 instances per service ...", flush=True)
            scale_out = run_flash_sale(root / "scale", shape, instances=2)
        print(f"open loop: {args.open_loop_rate}/s for {args.open_loop_seconds}s ...", flush=True)
        open_loop = run_flash_sale(root / "open", shape, instances=1, rate=args.open_loop_rate,
                                   seconds=args.open_loop_seconds)
        print("ceilings ...", flush=True)
        message_size = 600
        ceilings = measure_ceilings(root / "ceilings", shape.orders, message_size)
    finally:
        shutil.rmtree(root, ignore_errors=True)

    ceiling = max(ceilings["per_order_tx_1_conn_per_s"], ceilings["per_order_tx_8_conn_per_s"])
    result: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": commit(),
        "orders": burst["orders"],
        "decided_per_s": burst["decided_per_s"],
        "ceiling_per_order_tx_per_s": ceiling,
        "ratio_vs_per_order_tx": round(burst["decided_per_s"] / ceiling, 2),
        "transport_msgs_per_s": ceilings["transport_msgs_per_s"],
        "latency_ms": {"burst": burst["latency_ms"], "open_loop": open_loop["latency_ms"]},
        "email_latency_ms": {"burst": burst["email_latency_ms"], "open_loop": open_loop["email_latency_ms"]},
        "oversold": burst["oversold"] + open_loop["oversold"] + (scale_out["oversold"] if scale_out else 0),
        "duplicates": burst["duplicates"] + open_loop["duplicates"] + (scale_out["duplicates"] if scale_out else 0),
        "rss_mb": burst["rss_mb"],
        "ceilings": ceilings,
        "runs": {"burst": burst, "scale_out_2_instances": scale_out, "open_loop": open_loop},
        "targets": TARGETS,
        "seconds": round(time.monotonic() - started, 1),
    }
    result["targets_met"] = {
        "ratio_vs_per_order_tx": result["ratio_vs_per_order_tx"] >= TARGETS["ratio_vs_per_order_tx"],
        "open_loop_p99_ms": open_loop["latency_ms"]["p99"] <= TARGETS["open_loop_p99_ms"],
        "oversold": result["oversold"] == 0,
        "duplicates": result["duplicates"] == 0,
        "rss_mb": all(v <= TARGETS["rss_mb"] for v in burst["rss_mb"].values()),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "latest.json").write_text(json.dumps(result, indent=2) + "\n")
    chart(result, args.out / "latest.png")
    line = (f"| {result['date']} | {result['commit']} | {result['orders']} | {result['decided_per_s']} | "
            f"{result['ratio_vs_per_order_tx']} | {open_loop['latency_ms']['p99']} | {burst['latency_ms']['p99']} | "
            f"{result['oversold']} | {result['duplicates']} | {max(burst['rss_mb'].values(), default=0)} |\n")
    if not args.history.exists():
        args.history.write_text(
            "| date | commit | orders | decided/s | ratio vs 1 tx/order | open-loop p99 ms | burst p99 ms | "
            "oversold | duplicates | peak RSS MB |\n|---|---|---|---|---|---|---|---|---|---|\n"
        )
    with args.history.open("a") as history:
        history.write(line)
    print(json.dumps({k: result[k] for k in ("orders", "decided_per_s", "ceiling_per_order_tx_per_s",
                                             "ratio_vs_per_order_tx", "latency_ms", "oversold", "duplicates",
                                             "rss_mb", "targets_met", "seconds")}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
