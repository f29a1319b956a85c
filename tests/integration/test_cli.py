"""The operator CLI against the running services: publish from flags and JSON files, tail, query."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from backorder_cli.main import app as cli
from devstack.client import PlatformClient
from devstack.stack import Stack

pytestmark = pytest.mark.integration
RUN = uuid.uuid4().hex[:6]
SELLER, LISTING, SKU = f"cli-seller-{RUN}", f"cli-listing-{RUN}", f"cli-sku-{RUN}"


@pytest.fixture(scope="module", autouse=True)
def services(stack: Stack) -> Iterator[Stack]:
    stack.start_service("catalog")
    stack.start_service("inventory")
    stack.start_service("orders")  # places the orders whose backorders the R28 test projects
    stack.wait_ready()
    yield stack


@pytest.fixture(scope="module")
def env(stack: Stack) -> dict[str, str]:
    return {"KAFKA_BOOTSTRAP_SERVERS": stack.kafka_bootstrap, "BACKORDER_STATE": "/nonexistent", "COLUMNS": "250",
            "BACKORDER_CATALOG_URL": stack.services[("catalog", 0)].url,
            "BACKORDER_INVENTORY_URL": stack.services[("inventory", 0)].url}


def invoke(env: dict[str, str], *args: str) -> str:
    result = CliRunner().invoke(cli, list(args), env=env, terminal_width=250)
    assert result.exit_code == 0, result.output
    return result.output


async def run(env: dict[str, str], *args: str) -> str:
    """The CLI runs its own event loop, as it does in a terminal: give it a thread."""
    return await asyncio.to_thread(invoke, env, *args)


async def test_r06_cli_publishes_commands_and_shows_the_back_order_label(env: dict[str, str], client: PlatformClient,
                                                                         tmp_path: Path) -> None:
    await run(env, "send", "register-seller", "--seller-id", SELLER, "--region", "US", "--backorder-eligible", "true")
    await run(env, "send", "upsert-listing", "--seller-id", SELLER, "--listing-id", LISTING, "--category", "home",
        "--title", "Desk lamp", "--sku-ids", json.dumps([SKU]))
    activation = tmp_path / "activation.json"
    activation.write_text(json.dumps({"seller_id": SELLER, "sku_id": SKU, "handling_days": 5,
                                      "backorder_stock": [{"warehouse_id": "wh-1", "qty": 7}]}))
    await run(env, "send", "activate-backorder", "--file", str(activation), "--as", f"seller:{SELLER}")
    await client.wait_type("catalog.events", "BackorderActivated", sku_id=SKU)
    await client.wait_type("inventory.events", "StockChanged", sku_id=SKU, backorder_limit=7)

    assert "Back order" in await run(env, "listings", SELLER, "--back-order")
    assert '"listing_type": "backorder"' in await run(env, "sku", SKU)
    stock = await run(env, "stock", SKU)
    assert "backorder 7" in stock and "total 7" in stock
    assert "BackorderActivated" in await run(env, "tail", "catalog.events", "--limit", "50")


def test_cli_refuses_an_invalid_command_without_publishing(env: dict[str, str]) -> None:
    result = CliRunner().invoke(cli, ["send", "set-stock", "--sku-id", SKU, "--warehouse-id", "wh-1",
                                      "--on-hand", "-5"], env=env)
    assert result.exit_code == 2
    assert "on_hand" in result.output


async def test_r24_cli_prints_the_promise_and_refuses_bad_input(env: dict[str, str], client: PlatformClient) -> None:
    sku = f"cli-promise-{RUN}"
    await run(env, "send", "upsert-listing", "--seller-id", SELLER, "--listing-id", f"{LISTING}-p", "--category",
              "home", "--title", "Desk lamp", "--sku-ids", json.dumps([sku]))
    await run(env, "send", "set-stock", "--sku-id", sku, "--warehouse-id", "wh-1", "--on-hand", "3")
    await client.wait_type("inventory.events", "StockChanged", sku_id=sku, on_hand=3)

    out = await run(env, "promise", sku, "--qty", "2", "--region", "GB")
    assert "In stock" in out and "orderable" in out and "2 from stock, 0 on back order" in out
    assert "ships by" in out and "estimated delivery" in out

    refused = CliRunner().invoke(cli, ["promise", sku, "--qty", "1", "--region", "ZZ"], env=env, terminal_width=250)
    assert refused.exit_code == 1 and "unknown_region" in refused.output


def _event_id(published: str) -> str:
    """The event id ``backorder send`` prints, to find the answer to that very command."""
    match = re.search(r"published \w+ ([0-9a-f-]{36})", published)
    assert match, published
    return match.group(1)


def _projected(sku_id: str, day: str | None):  # type: ignore[no-untyped-def]
    def predicate(o: Any) -> bool:
        return (o.type == "BackorderProjected" and o.payload["sku_id"] == sku_id
                and [p["projected_on"] for p in o.payload["parts"]] == [day])
    return predicate


async def test_r28_cli_announces_changes_and_cancels_an_inbound_and_shows_projected_dates(
        env: dict[str, str], client: PlatformClient) -> None:
    seller, sku, order_id, po = f"cli-supply-{RUN}", f"cli-bo-{RUN}", f"cli-order-{RUN}", f"po-{RUN}"
    seller_flag = ("--as", f"seller:{seller}")
    await run(env, "send", "register-seller", "--seller-id", seller, "--region", "US", "--backorder-eligible", "true")
    await run(env, "send", "upsert-listing", "--seller-id", seller, "--listing-id", f"{LISTING}-s", "--category",
              "home", "--title", "Desk lamp", "--sku-ids", json.dumps([sku]))
    await run(env, "send", "activate-backorder", "--seller-id", seller, "--sku-id", sku, "--handling-days", "5",
              "--backorder-stock", json.dumps([{"warehouse_id": "wh-1", "qty": 5}]), *seller_flag)
    await client.wait_type("inventory.events", "StockChanged", sku_id=sku, backorder_limit=5)
    await run(env, "send", "place-order", "--order-id", order_id, "--buyer-id", f"cli-buyer-{RUN}", "--buyer-email",
              "buyer@example.com", "--region", "US",
              "--lines", json.dumps([{"line_id": "l1", "sku_id": sku, "qty": 2}]))
    await client.wait_type("inventory.events", "StockAllocated", order_id=order_id)

    today = datetime.now(UTC).date()
    arrival, later = (today + timedelta(days=30)).isoformat(), (today + timedelta(days=40)).isoformat()
    await run(env, "send", "announce-inbound", "--inbound-id", po, "--sku-id", sku, "--warehouse-id", "wh-1",
              "--qty", "40", "--expected-on", arrival, *seller_flag)
    await client.wait_for(_projected(sku, arrival))
    shown = await run(env, "inbounds", sku)
    assert po in shown and arrival in shown and "open" in shown and "40" in shown
    assert arrival in await run(env, "allocations", order_id) and po in await run(env, "allocations", order_id)

    await run(env, "send", "change-inbound", "--inbound-id", po, "--sku-id", sku, "--expected-on", later, *seller_flag)
    await client.wait_for(_projected(sku, later))
    assert later in await run(env, "inbounds", sku)

    await run(env, "send", "cancel-inbound", "--inbound-id", po, "--sku-id", sku, *seller_flag)
    await client.wait_for(_projected(sku, None))
    assert "cancelled" in await run(env, "inbounds", sku)
    assert later not in await run(env, "allocations", order_id)

    past = await run(env, "send", "announce-inbound", "--inbound-id", f"{po}-late", "--sku-id", sku, "--warehouse-id",
                     "wh-1", "--qty", "5", "--expected-on", (today - timedelta(days=1)).isoformat(), *seller_flag)
    await client.wait_type("inventory.events", "CommandRejected", command_id=_event_id(past), reason="date_in_past")


async def test_r30_cli_sets_the_auto_cancel_policy_and_sees_nonsense_refused(env: dict[str, str],
                                                                            client: PlatformClient) -> None:
    seller = f"cli-policy-{RUN}"
    await run(env, "send", "register-seller", "--seller-id", seller, "--region", "US", "--backorder-eligible", "true")
    await client.wait_type("catalog.events", "SellerRegistered", seller_id=seller)
    await run(env, "send", "set-auto-cancel-policy", "--seller-id", seller, "--max-days-late", "7",
              "--cancel-at-second-slip", "true", "--as", f"seller:{seller}")
    await client.wait_type("catalog.events", "AutoCancelPolicySet", seller_id=seller, max_days_late=7,
                           cancel_at_second_slip=True)
    refused = await run(env, "send", "set-auto-cancel-policy", "--seller-id", seller, "--max-days-late", "365",
                        "--as", f"seller:{seller}")
    await client.wait_type("catalog.events", "CommandRejected", command_id=_event_id(refused),
                           reason="invalid_auto_cancel_policy")
