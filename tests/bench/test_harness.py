"""The benchmark harness (``make bench``) on a tiny scenario, so that it cannot rot.

Only the shape of the results and the exactness figures are asserted: speeds depend on the machine
and are the benchmark's to report, not a test's to judge.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.__main__ import main

pytestmark = pytest.mark.integration

REQUIRED = ("orders", "decided_per_s", "ceiling_per_order_tx_per_s", "ratio_vs_per_order_tx", "transport_msgs_per_s",
            "latency_ms", "email_latency_ms", "oversold", "duplicates", "rss_mb")


def test_the_harness_runs_a_tiny_flash_sale_and_reports_every_figure(tmp_path: Path, postgres_server: str) -> None:
    out, history = tmp_path / "results", tmp_path / "HISTORY.md"
    assert main(["--orders", "150", "--skus", "20", "--open-loop-seconds", "2", "--skip-scale-out", "--one-stack",
                 "--out", str(out), "--history", str(history), "--postgres-url", postgres_server]) == 0

    result = json.loads((out / "latest.json").read_text())
    assert [key for key in REQUIRED if key not in result] == []
    assert result["orders"] == 150 and result["runs"]["burst"]["decided"] == 150
    assert result["runs"]["open_loop"]["decided"] == result["runs"]["open_loop"]["orders"] == 400
    for run in ("burst", "open_loop"):
        assert all(result["latency_ms"][run][p] > 0 for p in ("p50", "p95", "p99"))
        assert set(result["email_latency_ms"][run]) == {"p50", "p95", "p99"}
    assert result["decided_per_s"] > 0 and result["ceiling_per_order_tx_per_s"] > 0
    assert result["transport_msgs_per_s"] > 0
    assert result["ratio_vs_per_order_tx"] == round(result["decided_per_s"] / result["ceiling_per_order_tx_per_s"], 2)
    assert (result["oversold"], result["duplicates"]) == (0, 0)
    assert set(result["rss_mb"]) == {"catalog", "inventory", "orders", "notifications"}
    assert all(mb > 0 for mb in result["rss_mb"].values())
    for run in ("burst", "open_loop"):  # where the cores went: every process on an order's path used some
        used = result["cpu_ms_per_order"][run]
        on_the_path = {"inventory-0", "orders-0", "notifications-0", "kafka", "bench"}
        assert on_the_path | {"catalog-0", "smtp"} <= set(used)
        assert all(used[name] > 0 for name in on_the_path)
    hops = result["open_loop_hops_ms"]  # where the open loop's decision latency went, hop by hop
    assert set(hops) == {"consume PlaceOrder -> OrderPlaced", "relay OrderPlaced",
                         "consume OrderPlaced -> StockAllocated", "relay StockAllocated",
                         "consume StockAllocated -> OrderAccepted", "relay OrderAccepted"}
    assert all(hop["p50"] is not None and 0 <= hop["p50"] <= hop["p99"] < 60_000 for hop in hops.values())
    assert (out / "latest.png").stat().st_size > 0
    assert history.read_text().count("\n") == 3  # the table's header, its rule and this run
