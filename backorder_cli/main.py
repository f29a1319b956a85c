"""The operator CLI: publish commands, tail topics, query the services, handle dead letters."""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import datetime
from typing import Any

import httpx
import orjson
import typer
from aiokafka import TopicPartition
from rich.console import Console
from rich.table import Table

from backorder_cli import kafka
from backorder_cli.config import service_url
from backorder_cli.publish import send_app
from backorder_cli.replay import replay
from shared.messaging.decoding import REPLAY_CONSUMER_HEADER, REPLAY_OFFSET_HEADER
from shared.messaging.topics import partitions_of

app = typer.Typer(
    help="Operate the backorder platform.",
    epilog="The rule ids in this help (R06, R24, ...) are described in docs/rules.md, with the tests that prove them.",
    no_args_is_help=True,
)
app.add_typer(send_app, name="send")
app.command()(replay)
dlq_app = typer.Typer(help="Dead-letter queues: list and replay.", no_args_is_help=True)
app.add_typer(dlq_app, name="dlq")
console = Console()


# ------------------------------------------------------------------ topics


async def _read(topic: str, limit: int, follow: bool, from_beginning: bool):  # type: ignore[no-untyped-def]
    consumer = kafka.consumer()
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in await partitions_of(kafka.settings(), topic)]
        if not partitions:
            raise typer.BadParameter(f"no topic {topic}")
        consumer.assign(partitions)
        if from_beginning:
            await consumer.seek_to_beginning(*partitions)
        else:
            await consumer.seek_to_end(*partitions)
        # without --follow: what the topic holds now, then stop (no waiting for it to fall silent)
        end = {tp: offset for tp, offset in (await consumer.end_offsets(partitions)).items()}
        seen = 0
        while seen < limit:
            if not follow and all([await consumer.position(tp) >= end[tp] for tp in partitions]):
                break
            batch = await consumer.getmany(timeout_ms=500, max_records=min(500, limit - seen))
            for records in batch.values():
                for record in records:
                    seen += 1
                    yield record
    finally:
        await consumer.stop()


def _summary(value: dict[str, Any]) -> str:
    payload = value.get("payload") or value
    return json.dumps(payload, default=str)[:160]


@app.command()
def tail(topic: str, limit: int = typer.Option(50, help="stop after this many messages"),
         follow: bool = typer.Option(False, "--follow", help="keep waiting for new messages"),
         from_beginning: bool = typer.Option(True, "--from-beginning/--new")) -> None:
    """Show a topic's messages as a table."""

    async def run() -> None:
        table = Table(title=topic)
        for column in ("partition", "offset", "time", "type", "key", "payload"):
            table.add_column(column)
        async for r in _read(topic, limit, follow, from_beginning):
            try:
                value = orjson.loads(r.value)
            except orjson.JSONDecodeError:
                value = {"type": "<not json>", "payload": r.value[:80].decode(errors="replace")}
            when = datetime.fromtimestamp(r.timestamp / 1000).strftime("%H:%M:%S.%f")[:-3]
            row = [str(r.partition), str(r.offset), when, str(value.get("type", "?")),
                   (r.key or b"").decode(errors="replace"), _summary(value)]
            if follow:
                console.print(" | ".join(row))
            else:
                table.add_row(*row)
        if not follow:
            console.print(table)

    asyncio.run(run())


# ------------------------------------------------------------------ queries


def _get(service: str, path: str, params: dict[str, Any] | None = None) -> Any:
    response = httpx.get(f"{service_url(service)}{path}", params={k: v for k, v in (params or {}).items() if v},
                         timeout=10)
    if response.status_code == 404:
        console.print(f"[yellow]not found: {path}[/yellow]")
        raise typer.Exit(1)
    response.raise_for_status()
    return response.json()


def _table(title: str, rows: list[dict[str, Any]], columns: list[str] | None = None) -> Table:
    table = Table(title=title)
    columns = columns or (list(rows[0]) if rows else [])
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*[_cell(row.get(c)) for c in columns])
    return table


def _cell(value: Any) -> str:
    if isinstance(value, list | dict):
        return json.dumps(value, default=str)
    return "" if value is None else str(value)


@app.command()
def listings(seller_id: str, back_order: bool = typer.Option(False, "--back-order", help="only 'Back order'")) -> None:
    """A seller's listings with the 'Back order' label (R06)."""
    rows = _get("catalog", f"/sellers/{seller_id}/listings", {"back_order": "1" if back_order else None})
    console.print(_table(f"listings of {seller_id}", rows, ["listing_id", "title", "category", "label", "skus"]))


@app.command()
def sku(sku_id: str) -> None:
    """A SKU's listing type, handling days and backorder stock."""
    console.print_json(data=_get("catalog", f"/skus/{sku_id}"))


@app.command()
def stock(sku_id: str) -> None:
    """A SKU's stock per warehouse: in stock, backorder, total and available-to-promise (R10)."""
    data = _get("inventory", f"/skus/{sku_id}/stock")
    console.print(_table(f"stock of {sku_id}", data["warehouses"]))
    console.print(f"in stock {data['in_stock']}  backorder {data['backorder']}  [bold]total {data['total']}[/bold]  "
                  f"available to promise {data['available_to_promise']} (safety stock {data['safety_stock']})")


@app.command()
def promise(sku_id: str, qty: int = typer.Option(1, "--qty", help="units"),
            region: str = typer.Option(..., "--region", help="the buyer's region, e.g. US")) -> None:
    """The buyer's promise before purchase (R24): orderable, label, units by source, ship-by and delivery."""
    response = httpx.get(f"{service_url('inventory')}/skus/{sku_id}/promise", params={"qty": qty, "region": region},
                         timeout=10)
    if 400 <= response.status_code < 500:
        body = response.json()
        console.print(f"[red]{body.get('error')}[/red]: {body.get('message')}")
        raise typer.Exit(1)
    response.raise_for_status()
    data = response.json()
    label = {"in_stock": "In stock", "on_back_order": "On back order", "out_of_stock": "Out of stock"}[data["label"]]
    console.print(f"[bold]{label}[/bold]  {sku_id} x {qty} to {region}: "
                  + ("orderable" if data["orderable"] else "not orderable")
                  + f"  ({data['regular_qty']} from stock, {data['backorder_qty']} on back order)")
    if data["parts"]:
        columns = ["warehouse_id", "source", "qty", "ship_by", "estimated_delivery"]
        console.print(_table("parts", data["parts"], columns))
        console.print(f"ships by {data['ship_by']}, estimated delivery {data['estimated_delivery']} "
                      f"(quoted {data['quoted_at']})")


@app.command()
def ledger(sku_id: str, limit: int = 50) -> None:
    """A SKU's latest stock movements (R12)."""
    console.print(_table(f"ledger of {sku_id}", _get("inventory", f"/skus/{sku_id}/ledger", {"limit": limit})))


@app.command()
def inbounds(sku_id: str) -> None:
    """A SKU's expected inbound stock (R28) by expected arrival: open, received and cancelled. Announce, change
    and cancel one with `backorder send announce-inbound`, `change-inbound` and `cancel-inbound`."""
    rows = _get("inventory", f"/skus/{sku_id}/inbounds")
    console.print(_table(f"inbounds of {sku_id}", rows,
                         ["inbound_id", "warehouse_id", "qty", "received", "expected_on", "state"]))


@app.command()
def allocations(order_id: str) -> None:
    """An order's parts in inventory: source, state, queue priority and, for a waiting backorder part, its
    projected fill date and the inbound it is projected against (R28; empty: no inbound covers it). A part
    filled from another warehouse's stock ships from that one (R31)."""
    rows = _get("inventory", f"/orders/{order_id}/allocations")
    console.print(_table(f"allocations of {order_id}", rows,
                         ["line_id", "part_no", "sku_id", "warehouse_id", "ship_from", "source", "qty", "state",
                          "priority",
                          "projected_on", "projected_inbound"]))


@app.command()
def order(order_id: str) -> None:
    """An order: status, tags, lines, parts and dates."""
    console.print_json(data=_get("orders", f"/orders/{order_id}"))


@app.command()
def orders(seller_id: str, tag: str = typer.Option(None, help="e.g. back_order"),
           status: str = typer.Option(None, help="e.g. awaiting_shipment")) -> None:
    """A seller's orders by tag and status, oldest first (R13, R19)."""
    rows = _get("orders", f"/sellers/{seller_id}/orders", {"tag": tag, "status": status})
    console.print(_table(f"orders of {seller_id}", rows))


@app.command()
def notifications(buyer: str = typer.Option(None, help="a buyer id"),
                  order_id: str = typer.Option(None, "--order", help="an order id"),
                  seller: str = typer.Option(None, help="a seller id: its stock alerts (R32)")) -> None:
    """A buyer's, an order's or a seller's notifications and their status (R20-R22, R32)."""
    given = [(name, value) for name, value in (("buyers", buyer), ("orders", order_id), ("sellers", seller)) if value]
    if len(given) != 1:
        raise typer.BadParameter("give exactly one of --buyer, --order or --seller")
    (owner, value), = given
    console.print(_table("notifications", _get("notifications", f"/{owner}/{value}/notifications")))


@app.command()
def kpis(seller: str = typer.Option(None, help="one seller (with the overall row)"),
         as_json: bool = typer.Option(False, "--json", help="print JSON instead of tables")) -> None:
    """The backorder KPIs (R23, R33), overall (seller '*') and per seller, then lost demand per SKU and seller.

    Over accepted orders: backorder rate (orders with a backordered line / orders), average backorder age
    (days since placement of backordered lines still open), fill rate (closed orders, nothing left to ship,
    whose every line shipped complete and on time / closed orders), late-shipment rate (late backordered
    lines / backordered lines), cancellation rate (cancelled lines / lines) and backorder cancellation rate
    (cancelled backordered lines / backordered lines). Lost demand: orders and units rejected out of stock
    (per SKU: `backorder lost-demand`)."""
    rows = _get("orders", "/kpis", {"seller": seller})
    if as_json:
        console.print_json(data=rows)
        return
    table = Table(title="Backorder KPIs")
    for column in ("seller", "orders", "backorder rate", "avg backorder age (d)", "closed", "fill rate",
                   "late-shipment rate", "cancellation rate", "backorder cancellation rate", "lost orders",
                   "lost units"):
        table.add_column(column, justify="left" if column == "seller" else "right")
    for row in rows:
        table.add_row(row["seller_id"] if row["seller_id"] != "*" else "[bold]overall[/bold]", str(row["orders"]),
                      f"{row['backorder_rate']:.1%}", f"{row['average_backorder_age_days']:.1f}",
                      str(row["closed_orders"]), f"{row['fill_rate']:.1%}", f"{row['late_shipment_rate']:.1%}",
                      f"{row['cancellation_rate']:.1%}", f"{row['backorder_cancellation_rate']:.1%}",
                      str(row["lost_orders"]), str(row["lost_units"]))
    console.print(table)
    _print_lost_demand(_get("orders", "/kpis/lost-demand", {"seller": seller, "limit": 20}))


def _print_lost_demand(rows: list[dict[str, Any]]) -> None:
    console.print(_table("Lost demand: rejected out of stock", rows, ["seller_id", "sku_id", "orders", "units"]))


@app.command("lost-demand")
def lost_demand(seller: str = typer.Option(None, help="one seller"),
                limit: int = typer.Option(100, help="at most this many SKUs, the most units first"),
                as_json: bool = typer.Option(False, "--json", help="print JSON instead of a table")) -> None:
    """Lost demand (R33): orders and units rejected as out of stock, per SKU and seller. A rejected order counts
    for the SKUs of the lines it lacked stock for, not for its other lines."""
    rows = _get("orders", "/kpis/lost-demand", {"seller": seller, "limit": limit})
    if as_json:
        console.print_json(data=rows)
        return
    _print_lost_demand(rows)


# ------------------------------------------------------------------ dead letters


@dlq_app.command("list")
def dlq_list(topic: str = typer.Argument(..., help="the source topic, e.g. orders.commands"), limit: int = 100) -> None:
    """Dead letters of a topic with their reasons."""

    async def run() -> None:
        table = Table(title=f"{topic}.dlq")
        for column in ("dlq offset", "source offset", "consumer", "reason", "attempts", "error"):
            table.add_column(column)
        async for r in _read(f"{topic}.dlq", limit, False, True):
            letter = orjson.loads(r.value)
            table.add_row(str(r.offset), f"{letter['partition']}/{letter['offset']}", letter["consumer"],
                          letter["reason"], str(letter["attempts"]), letter["error"][:100])
        console.print(table)

    asyncio.run(run())


@dlq_app.command("replay")
def dlq_replay(topic: str = typer.Argument(..., help="the source topic, e.g. orders.commands"),
               offset: list[int] = typer.Option(None, "--offset", help="DLQ offsets to replay (default: all)"),
               limit: int = 1000) -> None:
    """Publish dead letters' original messages again on their topic (after fixing the cause).

    A replayed message keeps its event id and carries the consumer group that gave up on it: that
    group handles it (once per dead letter), every other group that handled it before skips it."""

    async def run() -> int:
        producer = kafka.producer()
        await producer.start()
        replayed = 0
        try:
            async for r in _read(f"{topic}.dlq", limit, False, True):
                if offset and r.offset not in offset:
                    continue
                letter = orjson.loads(r.value)
                headers = [(k, v.encode()) for k, v in letter.get("original_headers", {}).items()
                           if k not in (REPLAY_CONSUMER_HEADER, REPLAY_OFFSET_HEADER)]
                headers += [(REPLAY_CONSUMER_HEADER, str(letter["consumer"]).encode()),
                            (REPLAY_OFFSET_HEADER, f"{r.partition}:{r.offset}".encode())]
                await producer.send_and_wait(letter["original_topic"], base64.b64decode(letter["original_b64"]),
                                             key=letter["key"].encode() if letter.get("key") else None,
                                             headers=headers)
                replayed += 1
        finally:
            await producer.stop()
        return replayed

    console.print(f"replayed {asyncio.run(run())} message(s) to {topic}")


if __name__ == "__main__":
    app()
