"""The benchmark harness (``make bench``) on a tiny scenario, so that it cannot rot.

Only the shape of the results and the exactness figures are asserted: speeds depend on the machine
and are the benchmark's to report, not a test's to judge.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from bench.__main__ import main

pytestmark = pytest.mark.integration

REQUIRED = ("orders", "decided_per_s", "ceiling_per_order_tx_per_s", "ratio_vs_per_order_tx", "transport_msgs_per_s",
            "latency_ms", "email_latency_ms", "oversold", "duplicates", "rss_mb", "broker", "broker_rss_mb",
            "per_message_decided_per_s", "ratio_vs_per_message_tx", "cpu_ms_per_order_total", "bill",
            "postgres_settings", "emails_per_s", "notifications_cpu_ms_per_email")
RUNS = ("burst", "open_loop", "open_loop_50")


def test_the_harness_runs_a_tiny_flash_sale_and_reports_every_figure(tmp_path: Path, postgres_server: str) -> None:
    out, history = tmp_path / "results", tmp_path / "HISTORY.md"
    assert main(["--orders", "150", "--skus", "20", "--open-loop-seconds", "2", "--skip-scale-out", "--one-stack",
                 "--per-message-orders", "40", "--replicated-orders", "0", "--quiet-rate", "50", "--idle-seconds", "1",
                 "--warmup-seconds", "1",
                 "--out", str(out), "--history", str(history), "--postgres-url", postgres_server]) == 0

    result = json.loads((out / "latest.json").read_text())
    assert [key for key in REQUIRED if key not in result] == []
    assert result["orders"] == 150 and result["runs"]["burst"]["decided"] == 150
    assert result["runs"]["open_loop"]["decided"] == result["runs"]["open_loop"]["orders"] == 400
    assert result["runs"]["open_loop_50"]["decided"] == result["runs"]["open_loop_50"]["orders"] == 100
    for run in RUNS:
        assert all(result["latency_ms"][run][p] > 0 for p in ("p50", "p95", "p99"))
        assert set(result["email_latency_ms"][run]) == {"p50", "p95", "p99"}
        emails = result["runs"][run]["emails_sent"]  # every kind, the "on back order" ones among them
        assert emails >= result["runs"][run]["emails"]
        assert result["notifications_cpu_ms_per_email"][run] == (round(
            sum(v for k, v in result["cpu_ms_per_order"][run].items() if k.startswith("notifications"))
            * result["runs"][run]["orders"] / emails, 3) if emails else None)
    assert result["runs"]["open_loop"]["emails_sent"] > 1  # the open loop sells into backorder
    assert result["runs"]["open_loop"]["emails_per_s"] > 0
    assert result["emails_per_s"] == result["runs"]["burst"]["emails_per_s"]
    assert result["decided_per_s"] > 0 and result["ceiling_per_order_tx_per_s"] > 0
    assert result["transport_msgs_per_s"] > 0
    floor = result["ceilings"]["bare_hops_latency_ms"]  # the same hops with no work in them, same run
    assert 0 < floor["p50"] <= floor["p99"] < 60_000
    assert result["open_loop_p99_vs_bare_hops"] == round(result["latency_ms"]["open_loop"]["p99"] / floor["p99"], 2)
    assert result["ratio_vs_per_order_tx"] == round(result["decided_per_s"] / result["ceiling_per_order_tx_per_s"], 2)
    assert (result["oversold"], result["duplicates"]) == (0, 0)
    per_message = result["runs"]["per_message_1_record_per_batch"]  # the peer: one transaction per message
    assert per_message["decided"] == per_message["orders"] == 40
    assert result["ratio_vs_per_message_tx"] == round(result["decided_per_s"] / per_message["decided_per_s"], 2)
    assert result["broker"].startswith("Apache Kafka") and result["broker_rss_mb"] > 0
    for run in RUNS:  # the whole stack, the load generator excluded
        used = result["cpu_ms_per_order"][run]
        assert result["cpu_ms_per_order_total"][run] == round(sum(v for k, v in used.items() if k != "bench"), 3)
    assert set(result["rss_mb"]) == {"catalog", "inventory", "orders", "notifications"}
    assert all(mb > 0 for mb in result["rss_mb"].values())
    for run in RUNS:  # the bill: what an order cost, counted
        bill = result["bill"][run]
        assert bill["orders"] == result["runs"][run]["orders"] and bill["cpu_ms"] == result["cpu_ms_per_order"][run]
        for service in ("orders", "inventory", "notifications"):  # each of them reads and writes on every order
            assert bill["pg_round_trips"][service] > 0 and bill["pg_transactions"][service] > 0
            assert bill["pg_statements"][service] > 0 and bill["kafka_sends"][service] > 0
        assert bill["pg_round_trips_total"] == round(sum(bill["pg_round_trips"].values()), 2)
        assert bill["kafka_requests"]["Produce"] > 0 and bill["kafka_requests"]["Fetch"] > 0  # the broker's own meters
    idle = result["bill"]["idle"]
    assert idle["seconds"] >= 1 and idle["cores_total"] == round(sum(idle["cores"].values()), 3) > 0
    assert set(result["postgres_settings"]) == {"fsync", "synchronous_commit", "full_page_writes"}
    for run in RUNS:  # where the cores went: every process on an order's path used some
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


def test_the_harness_runs_every_run_on_a_given_kafka_cluster_and_each_stays_exact(
        tmp_path: Path, postgres_server: str, stack: Any) -> None:
    # the module's broker stands in for an Apache Kafka cluster: the runs' stacks are fresh, the broker
    # is shared, and no run may see another's orders
    out, history = tmp_path / "results", tmp_path / "HISTORY.md"
    assert main(["--orders", "120", "--skus", "20", "--open-loop-seconds", "2", "--skip-scale-out",
                 "--per-message-orders", "30", "--idle-seconds", "1", "--warmup-seconds", "0",
                 "--out", str(out), "--history", str(history),
                 "--postgres-url", postgres_server, "--kafka-bootstrap", stack.kafka_bootstrap]) == 0

    result = json.loads((out / "latest.json").read_text())
    assert result["broker"] == stack.kafka_bootstrap
    for run, orders in (("burst", 120), ("open_loop", 400), ("per_message_1_record_per_batch", 30)):
        figures = result["runs"][run]
        assert figures["orders"] == figures["decided"] == orders
        assert figures["duplicate_decisions"] == figures["oversold"] == figures["duplicates"] == 0
        assert figures["emails"] == figures["emails_owed"]
    assert result["transport_msgs_per_s"] > 0 and result["ceiling_per_order_tx_per_s"] > 0
    topics = asyncio.run(_topics(stack.kafka_bootstrap))  # the runs used this broker, not ones of their own
    assert "orders.commands" in topics and any(t.startswith("bench-transport-") for t in topics)


async def _topics(bootstrap: str) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return list(await admin.list_topics())
    finally:
        await admin.close()
