"""The operator CLI against the running services: publish from flags and JSON files, tail, query."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

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
