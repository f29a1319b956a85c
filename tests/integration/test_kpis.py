"""R23, R33: ``backorder kpis`` reports the seeds' KPIs, checked against figures computed by hand.

The platform runs with an injected clock (Monday 2026-11-23 15:00 UTC = 10:00 in New York, before
the 14:00 cut-off). Seller S1 (US) has a regular SKU r1 (10 units) and a backorder SKU b1 (no regular
stock, 10 backorder units, 3 business days: ship by Friday 27 November, Thanksgiving skipped). Seller
S2 has a regular SKU r2.

    A  S1 r1 x1   regular     shipped                   -> filled
    B  S1 b1 x1   backorder   released by a receipt, shipped before ship-by -> filled
    C  S1 b1 x1   backorder   never shipped; the clock moves to 5 December -> late, still open (12 days old)
    D  S1 b1 x1   backorder   cancelled by the buyer
    E  S2 r2 x1   regular     awaiting shipment
    F  S1 r1 x100 rejected    out of stock: not an accepted order, lost demand (R33) only

By hand:
    S1       4 orders, backorder rate 3/4, fill rate 2/3 (R33: over the closed A, B, D; C is open),
             late-shipment rate 1/3 (C of B, C, D), cancellation rate 1/4 lines, backorder cancellation
             rate 1/3 (D of B, C, D), average backorder age 12.0 days (C is the only open one),
             lost demand 1 order, 100 units
    S2       1 order, none closed, every rate 0, age 0, no lost demand
    overall  5 orders, backorder rate 3/5, fill rate 2/3, late 1/3, cancellation 1/5, backorder
             cancellation 1/3, age 12.0, lost demand 1 order, 100 units

The R33 test then adds seller S3's own orders (see there), so it runs last.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from backorder_cli.main import app as cli
from devstack.client import PlatformClient
from devstack.stack import Stack
from shared.contract.catalog import ActivateBackorder, RegisterSeller, UpsertListing, WarehouseQty
from shared.contract.inventory import ReceiveStock, SetStock
from shared.contract.orders import CancelLines, OrderLine, PlaceOrder, ShipLines

pytestmark = pytest.mark.integration

RUN = uuid.uuid4().hex[:6]
S1, S2 = f"s1-{RUN}", f"s2-{RUN}"
R1, B1, R2 = f"r1-{RUN}", f"b1-{RUN}", f"r2-{RUN}"


@pytest.fixture(scope="module")
def clock(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("clock") / "now"
    path.write_text("2026-11-23T15:00:00+00:00")
    return path


@pytest.fixture(scope="module", autouse=True)
def platform(stack: Stack, clock: Path) -> Iterator[Stack]:
    stack.service_env_extra["CLOCK"] = f"file:{clock}"
    stack.service_env_extra["SLA_POLL_S"] = "0.2"
    stack.service_env_extra["KPI_REFRESH_S"] = "0.2"
    stack.start_all()
    yield stack


async def _orders_knows(stack: Stack, sku_id: str) -> None:
    url = stack.services[("orders", 0)].url
    async with httpx.AsyncClient() as http:
        for _ in range(200):
            if (await http.get(f"{url}/skus/{sku_id}")).status_code == 200:
                return
            await asyncio.sleep(0.05)
    raise TimeoutError(f"orders never learned {sku_id}")


async def _place(client: PlatformClient, order_id: str, sku_id: str, qty: int = 1) -> str:
    await client.send(PlaceOrder(order_id=order_id, buyer_id=f"buyer-{order_id}", buyer_email="buyer@example.com",
                                 region="US", lines=[OrderLine(line_id="l1", sku_id=sku_id, qty=qty)]))
    [decision] = await client.wait_for(
        lambda o: o.type in ("OrderAccepted", "OrderRejected") and o.payload["order_id"] == order_id)
    return decision.type


def _cli_kpis(stack: Stack, *args: str) -> dict[str, dict[str, object]]:
    """``backorder kpis --json`` against the running orders service, by seller."""
    result = CliRunner().invoke(cli, ["kpis", *args, "--json"],
                                env={"BACKORDER_ORDERS_URL": stack.services[("orders", 0)].url})
    assert result.exit_code == 0, result.output
    return {row["seller_id"]: row for row in json.loads(result.output)}


async def test_r23_kpis_match_figures_computed_by_hand(stack: Stack, client: PlatformClient, clock: Path) -> None:
    for seller, listing, skus in ((S1, f"l1-{RUN}", [R1, B1]), (S2, f"l2-{RUN}", [R2])):
        await client.send(RegisterSeller(seller_id=seller, region="US", backorder_eligible=True))
        await client.send(UpsertListing(seller_id=seller, listing_id=listing, category="home", title="Lamp",
                                        sku_ids=skus))
    await client.send(ActivateBackorder(seller_id=S1, sku_id=B1, handling_days=3,
                                        backorder_stock=[WarehouseQty(warehouse_id="wh-1", qty=10)]))
    await client.send(SetStock(sku_id=R1, warehouse_id="wh-1", on_hand=10))
    await client.send(SetStock(sku_id=R2, warehouse_id="wh-1", on_hand=5))
    await client.wait_type("inventory.events", "StockChanged", sku_id=R2, on_hand=5)
    await client.wait_type("inventory.events", "StockChanged", sku_id=B1, backorder_limit=10)
    for sku in (R1, B1, R2):
        await _orders_knows(stack, sku)

    a, b, c, d, e, f = (f"{name}-{RUN}" for name in "abcdef")
    assert [await _place(client, o, s) for o, s in ((a, R1), (b, B1), (c, B1), (d, B1), (e, R2))] == \
        ["OrderAccepted"] * 5
    assert await _place(client, f, R1, qty=100) == "OrderRejected"

    await client.send(ReceiveStock(receipt_id=f"rcpt-{RUN}", sku_id=B1, warehouse_id="wh-1", qty=1))
    await client.wait_type("orders.events", "LinesReleased", order_id=b)
    for order_id in (a, b):
        await client.send(ShipLines(order_id=order_id, line_ids=["l1"], tracking_number=f"T-{order_id}"))
        await client.wait_type("orders.events", "LinesShipped", order_id=order_id)
    await client.send(CancelLines(order_id=d, line_ids=["l1"]))
    await client.wait_type("orders.events", "LinesCancelled", order_id=d)
    clock.write_text("2026-12-05T15:00:00+00:00")  # noqa: ASYNC240 - a few bytes to a local file
    await client.wait_type("orders.events", "OrderShipmentLate", order_id=c, timeout=60)

    figures = _cli_kpis(stack)
    assert figures[S1] == {"seller_id": S1, "orders": 4, "backorder_rate": 0.75, "average_backorder_age_days": 12.0,
                           "fill_rate": 0.6667, "late_shipment_rate": 0.3333, "cancellation_rate": 0.25,
                           "closed_orders": 3, "backorder_cancellation_rate": 0.3333, "lost_orders": 1,
                           "lost_units": 100}
    assert figures[S2] == {"seller_id": S2, "orders": 1, "backorder_rate": 0.0, "average_backorder_age_days": 0.0,
                           "fill_rate": 0.0, "late_shipment_rate": 0.0, "cancellation_rate": 0.0,
                           "closed_orders": 0, "backorder_cancellation_rate": 0.0, "lost_orders": 0, "lost_units": 0}
    assert figures["*"] == {"seller_id": "*", "orders": 5, "backorder_rate": 0.6, "average_backorder_age_days": 12.0,
                            "fill_rate": 0.6667, "late_shipment_rate": 0.3333, "cancellation_rate": 0.2,
                            "closed_orders": 3, "backorder_cancellation_rate": 0.3333, "lost_orders": 1,
                            "lost_units": 100}

    table = CliRunner().invoke(cli, ["kpis"], env={"BACKORDER_ORDERS_URL": stack.services[("orders", 0)].url,
                                                   "COLUMNS": "250"}, terminal_width=250)
    assert "overall" in table.output and "75.0%" in table.output


async def test_r23_kpis_are_exported_as_prometheus_metrics(stack: Stack) -> None:
    await _gauges_show(stack, [f'backorder_kpi{{kpi="fill_rate",seller="{S1}"}} 0.6667',
                               'backorder_kpi{kpi="fill_rate",seller="*"} 0.6667',
                               'backorder_kpi{kpi="backorder_rate",seller="*"} 0.6'])


async def _gauges_show(stack: Stack, wanted: list[str]) -> None:
    async with httpx.AsyncClient() as http:
        for _ in range(100):
            body = (await http.get(f"{stack.services[('orders', 0)].url}/metrics")).text
            if all(line in body for line in wanted):
                return
            await asyncio.sleep(0.1)
    pytest.fail(f"KPI gauges missing from /metrics: {[line for line in wanted if line not in body]}")


async def test_r33_kpis_on_route_cli_and_gauges(stack: Stack, client: PlatformClient) -> None:
    """Seller S3 (after the R23 test: the clock reads Saturday 5 December) has a regular SKU x3 (2 units) and a
    backorder SKU y3 (no regular stock, 3 backorder units).

        G  x3 x1              shipped                      -> closed, filled
        H  y3 x1   backorder  cancelled by the buyer       -> closed, not filled; a cancelled backordered line
        I  y3 x1   backorder  waiting for stock            -> open: in no fill-rate figure
        J  x3 x5              rejected out of stock        -> lost: x3 1 order, 5 units
        K  x3 x1 + y3 x5      rejected, y3 lacked stock    -> lost: y3 1 order, 5 units (x3 had stock: not lost)
        L  x3 x3              rejected out of stock        -> lost: x3 1 order, 3 units

    By hand: 3 orders, 2 closed, fill rate 1/2 (the R23 formula over all orders would give 1/3), cancellation
    rate 1/3 lines, backorder cancellation rate 1/2, lost demand 3 orders and 13 units: x3 2 orders 8 units,
    y3 1 order 5 units."""
    s3, x3, y3 = f"s3-{RUN}", f"x3-{RUN}", f"y3-{RUN}"
    await client.send(RegisterSeller(seller_id=s3, region="US", backorder_eligible=True))
    await client.send(UpsertListing(seller_id=s3, listing_id=f"l3-{RUN}", category="home", title="Lamp",
                                    sku_ids=[x3, y3]))
    await client.send(ActivateBackorder(seller_id=s3, sku_id=y3, handling_days=3,
                                        backorder_stock=[WarehouseQty(warehouse_id="wh-1", qty=3)]))
    await client.send(SetStock(sku_id=x3, warehouse_id="wh-1", on_hand=2))
    await client.wait_type("inventory.events", "StockChanged", sku_id=x3, on_hand=2)
    await client.wait_type("inventory.events", "StockChanged", sku_id=y3, backorder_limit=3)
    for sku in (x3, y3):
        await _orders_knows(stack, sku)

    g, h, i, j, k, m = (f"{name}-{RUN}" for name in "ghijkl")
    assert [await _place(client, o, s) for o, s in ((g, x3), (h, y3), (i, y3))] == ["OrderAccepted"] * 3
    assert await _place(client, j, x3, qty=5) == "OrderRejected"
    await client.send(PlaceOrder(order_id=k, buyer_id=f"buyer-{k}", buyer_email="buyer@example.com", region="US",
                                 lines=[OrderLine(line_id="l1", sku_id=x3, qty=1),
                                        OrderLine(line_id="l2", sku_id=y3, qty=5)]))
    await client.wait_type("orders.events", "OrderRejected", order_id=k)
    assert await _place(client, m, x3, qty=3) == "OrderRejected"
    await client.send(ShipLines(order_id=g, line_ids=["l1"], tracking_number=f"T-{g}"))
    await client.wait_type("orders.events", "LinesShipped", order_id=g)
    await client.send(CancelLines(order_id=h, line_ids=["l1"]))
    await client.wait_type("orders.events", "LinesCancelled", order_id=h)

    env = {"BACKORDER_ORDERS_URL": stack.services[("orders", 0)].url}
    figures = _cli_kpis(stack, "--seller", s3)
    assert figures[s3] == {"seller_id": s3, "orders": 3, "backorder_rate": 0.6667, "average_backorder_age_days": 0.0,
                           "fill_rate": 0.5, "late_shipment_rate": 0.0, "cancellation_rate": 0.3333,
                           "closed_orders": 2, "backorder_cancellation_rate": 0.5, "lost_orders": 3,
                           "lost_units": 13}
    lost = CliRunner().invoke(cli, ["lost-demand", "--seller", s3, "--json"], env=env)
    assert lost.exit_code == 0, lost.output
    assert json.loads(lost.output) == [{"seller_id": s3, "sku_id": x3, "orders": 2, "units": 8},
                                       {"seller_id": s3, "sku_id": y3, "orders": 1, "units": 5}]
    async with httpx.AsyncClient() as http:  # the read route the CLI shows
        route = (await http.get(f"{env['BACKORDER_ORDERS_URL']}/kpis/lost-demand", params={"seller": s3})).json()
    assert route == json.loads(lost.output)

    table = CliRunner().invoke(cli, ["kpis", "--seller", s3], env={**env, "COLUMNS": "250"}, terminal_width=250)
    assert table.exit_code == 0, table.output
    assert "Lost demand" in table.output and x3 in table.output and y3 in table.output

    await _gauges_show(stack, [f'backorder_kpi{{kpi="fill_rate",seller="{s3}"}} 0.5',
                               f'backorder_kpi{{kpi="backorder_cancellation_rate",seller="{s3}"}} 0.5',
                               f'backorder_kpi{{kpi="lost_orders",seller="{s3}"}} 3.0',
                               f'backorder_kpi{{kpi="lost_units",seller="{s3}"}} 13.0',
                               f'backorder_lost_demand_orders{{seller_id="{s3}",sku_id="{x3}"}} 2.0',
                               f'backorder_lost_demand_units{{seller_id="{s3}",sku_id="{x3}"}} 8.0',
                               f'backorder_lost_demand_units{{seller_id="{s3}",sku_id="{y3}"}} 5.0'])
