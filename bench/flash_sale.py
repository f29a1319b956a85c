"""The viral-SKU scenario: one seller, 200 SKUs in 3 warehouses; the hot SKU has 5,000 regular and
3,000 backorder units; orders (70% on the hot SKU, 1-3 lines each) arrive as fast as the broker takes
them (burst) or at a fixed rate (open loop). Every figure is observed through Kafka."""

from __future__ import annotations

import asyncio
import random
import statistics
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
import psutil
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bench import bill
from devstack.client import Observed, PlatformClient
from devstack.stack import Stack
from shared.contract.catalog import ActivateBackorder, RegisterSeller, UpsertListing, WarehouseQty
from shared.contract.envelope import Envelope
from shared.contract.inventory import SetStock
from shared.contract.orders import OrderLine, PlaceOrder
from shared.messaging.topics import partitions_of
from shared.settings import KafkaSettings

WAREHOUSES = ("wh-1", "wh-2", "wh-3")
#: the observer's wait on an empty fetch (see ``FlashSale.run``); the latency floor's end consumer waits the same
OBSERVER_FETCH_WAIT_MS = 20


@dataclass(frozen=True)
class Shape:
    orders: int = 20_000
    skus: int = 200
    hot_share: float = 0.7
    hot_regular: int = 5_000
    hot_backorder: int = 3_000
    other_regular_per_warehouse: int = 200
    seed: int = 7


@dataclass
class Observation:
    published_at: dict[str, float] = field(default_factory=dict)
    decided_at: dict[str, float] = field(default_factory=dict)
    decisions: Counter[str] = field(default_factory=Counter)
    accepted: int = 0
    rejected: int = 0
    email_at: dict[str, float] = field(default_factory=dict)
    #: when each email of the run's orders was announced sent (every kind: the drain, first to last)
    emails_sent_at: list[float] = field(default_factory=list)
    #: accepted orders with a backorder part: each is owed a backorder email (R20)
    backordered: set[str] = field(default_factory=set)
    notification_ids: Counter[str] = field(default_factory=Counter)
    allocated: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))


def percentiles(values: list[float]) -> dict[str, float | None]:
    """p50, p95 and p99 in ms; None when nothing was measured (a run without backorder emails)."""
    if not values:
        return {"p50": None, "p95": None, "p99": None}
    q = statistics.quantiles(values, n=100, method="inclusive") if len(values) > 1 else values * 99
    return {"p50": round(q[49], 1), "p95": round(q[94], 1), "p99": round(q[98], 1)}


class FlashSale:
    def __init__(self, stack: Stack, shape: Shape) -> None:
        self.stack = stack
        self.shape = shape
        run = uuid.uuid4().hex[:6]
        self.seller = f"seller-{run}"
        self.skus = [f"sku-{run}-{n:03d}" for n in range(shape.skus)]
        self.hot = self.skus[0]
        self.random = random.Random(shape.seed)
        self.obs = Observation()
        self.rss_peak: dict[str, float] = {}

    # ------------------------------------------------------------------ set-up

    async def seed(self) -> None:
        client = await PlatformClient(self.stack.kafka_bootstrap, ["inventory.events"], "bench").start()
        try:
            await client.send(RegisterSeller(seller_id=self.seller, region="US", backorder_eligible=True))
            listings = [self.skus[i:i + 50] for i in range(0, len(self.skus), 50)]
            for n, sku_ids in enumerate(listings):
                await client.send(UpsertListing(seller_id=self.seller, listing_id=f"{self.seller}-l{n}",
                                                category="electronics", title=f"Listing {n}", sku_ids=sku_ids))
            split = _split(self.shape.hot_backorder, len(WAREHOUSES))
            await client.send(ActivateBackorder(
                seller_id=self.seller, sku_id=self.hot, handling_days=5,
                backorder_stock=[WarehouseQty(warehouse_id=w, qty=q) for w, q in zip(WAREHOUSES, split, strict=True)],
            ))
            regular = _split(self.shape.hot_regular, len(WAREHOUSES))
            other = [self.shape.other_regular_per_warehouse] * len(WAREHOUSES)
            # independent SKU warehouses: sent side by side, so the producer batches them (one round trip
            # per command would make seeding, not the sale, the longest part of a short run)
            await asyncio.gather(*(
                client.send(SetStock(sku_id=sku, warehouse_id=w, on_hand=qty))
                for sku in self.skus for w, qty in zip(WAREHOUSES, regular if sku == self.hot else other, strict=True)
            ))
            await self._wait_stocked(client, timeout=120)
            await client.wait_for(lambda o: o.type == "StockChanged" and o.payload.get("sku_id") == self.hot
                                  and o.payload.get("backorder_limit", 0) > 0, timeout=60)
        finally:
            await client.stop()
        await asyncio.sleep(1.0)  # let orders' consumer apply the catalog events it shares the topics with

    async def _wait_stocked(self, client: PlatformClient, timeout: float) -> None:
        """Until inventory announced stock in every warehouse of every SKU."""
        wanted = {(sku, w) for sku in self.skus for w in WAREHOUSES}
        skus = set(self.skus)
        deadline = time.monotonic() + timeout

        def in_stock(o: Observed) -> bool:
            return o.type == "StockChanged" and o.payload.get("sku_id") in skus and o.payload.get("on_hand", 0) > 0

        while True:
            stocked = {(o.payload["sku_id"], o.payload["warehouse_id"]) for o in client.matching(in_stock)}
            if stocked >= wanted:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"stock announced for {len(stocked)} of {len(wanted)} SKU warehouses")
            await asyncio.sleep(0.1)

    def orders(self, count: int) -> list[PlaceOrder]:
        out = []
        others = self.skus[1:]
        for n in range(count):
            lines_n = self.random.randint(1, 3)
            first = self.hot if self.random.random() < self.shape.hot_share else self.random.choice(others)
            skus = [first, *self.random.sample([s for s in others if s != first], lines_n - 1)]
            out.append(PlaceOrder(
                order_id=f"{self.seller}-o{n}", buyer_id=f"buyer-{n % 500}", buyer_email=f"buyer{n % 500}@example.com",
                region="US", lines=[OrderLine(line_id=f"l{i}", sku_id=s, qty=1) for i, s in enumerate(skus)],
            ))
        return out

    # ------------------------------------------------------------------ observe

    async def _observe(self, consumer: AIOKafkaConsumer, stop: asyncio.Event) -> None:
        obs = self.obs
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=100, max_records=5000)
            now = time.perf_counter()
            for records in batches.values():
                for r in records:
                    value = orjson.loads(r.value)
                    kind, payload = value.get("type"), value.get("payload", {})
                    order_id = payload.get("order_id")
                    if kind in ("OrderAccepted", "OrderRejected") and order_id in obs.published_at:
                        obs.decisions[order_id] += 1
                        obs.decided_at.setdefault(order_id, now)
                        if kind == "OrderAccepted":
                            obs.accepted += 1
                            for line in payload["lines"]:
                                for part in line["parts"]:
                                    obs.allocated[(line["sku_id"], part["source"])] += part["qty"]
                                    if part["source"] == "backorder":
                                        obs.backordered.add(order_id)
                        else:
                            obs.rejected += 1
                    elif kind == "NotificationSent" and order_id in obs.published_at:
                        obs.notification_ids[payload["notification_id"]] += 1
                        if payload["channel"] == "email":
                            obs.emails_sent_at.append(now)
                            if payload["kind"] == "backorder_accepted":
                                obs.email_at.setdefault(order_id, now)

    async def _sample_rss(self, stop: asyncio.Event) -> None:
        processes = {f"{s.name}-{s.instance}": psutil.Process(s.proc.pid) for s in self.stack.services.values()}
        if self.stack.kafka is not None and self.stack.kafka.proc is not None:
            processes["kafka"] = psutil.Process(self.stack.kafka.proc.pid)
        while not stop.is_set():
            for name, process in processes.items():
                try:
                    rss = process.memory_info().rss / 2**20
                except psutil.Error:
                    continue
                self.rss_peak[name] = max(self.rss_peak.get(name, 0.0), rss)
            await asyncio.sleep(0.25)

    async def run(self, orders: list[PlaceOrder], rate_per_s: float | None = None,
                  timeout: float = 240) -> dict[str, Any]:
        """Publish ``orders`` (all at once, or at ``rate_per_s``) and observe until every one is decided."""
        # the broker answers a waiting fetch as soon as records arrive; a short wait only bounds how late
        # the observer notices an idle moment's first record
        consumer = AIOKafkaConsumer(bootstrap_servers=self.stack.kafka_bootstrap, enable_auto_commit=False,
                                    group_id=None, fetch_max_wait_ms=OBSERVER_FETCH_WAIT_MS)
        await consumer.start()
        partitions = await topic_partitions(self.stack.kafka_bootstrap, ("orders.events", "notifications.events"))
        consumer.assign(partitions)
        await consumer.seek_to_end(*partitions)
        for p in partitions:
            await consumer.position(p)
        producer = AIOKafkaProducer(bootstrap_servers=self.stack.kafka_bootstrap, acks="all", linger_ms=5)
        await producer.start()
        # the clients' own work, serialising their commands, is done before the clock starts: on a
        # real platform it happens on their machines, not on the platform's two cores
        values = [(order.order_id, Envelope(type="PlaceOrder", producer="bench", payload=order)
                   .model_dump_json().encode()) for order in orders]
        stop = asyncio.Event()
        tasks = [asyncio.create_task(self._observe(consumer, stop)), asyncio.create_task(self._sample_rss(stop))]
        before = await bill.read(self.stack, opening=True)
        started = time.perf_counter()
        try:
            futures = []
            for n, (order_id, value) in enumerate(values):
                if rate_per_s:
                    delay = started + n / rate_per_s - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                self.obs.published_at[order_id] = time.perf_counter()
                futures.append(await producer.send("orders.commands", value, key=order_id.encode()))
            await asyncio.gather(*futures)
            published = time.perf_counter()
            deadline = published + timeout
            while len(self.obs.decided_at) < len(orders) and time.perf_counter() < deadline:
                await asyncio.sleep(0.1)
            last_decision = max(self.obs.decided_at.values(), default=published)
            await self._wait_emails(deadline)
            after = await bill.read(self.stack)
        finally:
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
            await producer.stop()
            await consumer.stop()
        figures = self.figures(len(orders), started, published, last_decision)
        # the whole run's costs (decisions and emails) per order: where the two cores went, and why
        figures["bill"] = bill.bill(before, after, len(orders))
        figures["cpu_ms_per_order"] = figures["bill"]["cpu_ms"]
        figures["notifications_cpu_ms_per_email"] = cpu_per_email(figures["bill"]["cpu_ms"], len(orders),
                                                                  len(self.obs.emails_sent_at))
        return figures

    async def idle(self, seconds: float) -> dict[str, Any]:
        """The stack at rest for ``seconds`` (nothing sent): the cores and broker requests it costs anyway."""
        before = await bill.read(self.stack, opening=True)
        await asyncio.sleep(seconds)
        return bill.idle(before, await bill.read(self.stack))

    async def _wait_emails(self, deadline: float, quiet_s: float = 1.0) -> None:
        """Emails follow decisions: wait until every backordered order's email was sent, then for a
        quiet moment (a duplicate would show then), bounded by the run's deadline."""
        obs = self.obs
        while not obs.backordered <= obs.email_at.keys() and time.perf_counter() < deadline:
            await asyncio.sleep(0.1)
        previous, quiet_since = -1, time.perf_counter()
        while time.perf_counter() < min(deadline, quiet_since + quiet_s):
            seen = sum(obs.notification_ids.values())
            if seen != previous:
                previous, quiet_since = seen, time.perf_counter()
            await asyncio.sleep(0.1)

    def figures(self, orders: int, started: float, published: float, last_decision: float) -> dict[str, Any]:
        obs = self.obs
        latencies = [(obs.decided_at[o] - obs.published_at[o]) * 1000 for o in obs.decided_at]
        email = [(obs.email_at[o] - obs.published_at[o]) * 1000 for o in obs.email_at]
        hot_regular = obs.allocated[(self.hot, "regular")]
        hot_backorder = obs.allocated[(self.hot, "backorder")]
        oversold = max(0, hot_regular - self.shape.hot_regular) + max(0, hot_backorder - self.shape.hot_backorder)
        others = [(source, qty) for (sku, source), qty in obs.allocated.items() if sku != self.hot]
        oversold += sum(max(0, qty - len(WAREHOUSES) * self.shape.other_regular_per_warehouse)
                        for source, qty in others if source == "regular")
        oversold += sum(qty for source, qty in others if source == "backorder")
        duration = max(last_decision - started, 1e-9)
        return {
            "orders": orders,
            "decided": len(obs.decided_at),
            "accepted": obs.accepted,
            "rejected": obs.rejected,
            "decided_per_s": round(len(obs.decided_at) / duration, 1),
            "publish_s": round(published - started, 2),
            "latency_ms": percentiles(latencies),
            "email_latency_ms": percentiles(email),
            "emails": len(email),
            "emails_sent": len(obs.emails_sent_at),
            "emails_per_s": drain_rate(obs.emails_sent_at),
            "emails_owed": len(obs.backordered),
            "hot_regular_allocated": hot_regular,
            "hot_backorder_allocated": hot_backorder,
            "oversold": oversold,
            "duplicates": sum(n - 1 for n in obs.notification_ids.values() if n > 1),
            "duplicate_decisions": sum(n - 1 for n in obs.decisions.values() if n > 1),
            "rss_mb": {k: round(v, 1) for k, v in sorted(self.rss_peak.items())},
        }


def drain_rate(sent_at: list[float]) -> float | None:
    """Emails per second from the first email announced sent to the last (None under two emails)."""
    if len(sent_at) < 2:
        return None
    return round((len(sent_at) - 1) / max(max(sent_at) - min(sent_at), 1e-9), 1)


def cpu_per_email(cpu_ms_per_order: dict[str, float], orders: int, emails: int) -> float | None:
    """Notifications' CPU (all its instances) per email sent: the run's whole cost, consuming and sending."""
    if not emails:
        return None
    per_order = sum(ms for process, ms in cpu_ms_per_order.items() if process.startswith("notifications"))
    return round(per_order * orders / emails, 3)


#: an order's way to its decision: each step is a consume (the record's timestamp to the next service's
#: event, stamped in its transaction) and then a relay (that event's stamp to its record's timestamp)
HOPS = (("PlaceOrder", "OrderPlaced"), ("OrderPlaced", "StockAllocated"), ("StockAllocated", "OrderAccepted"))


async def hop_latencies(bootstrap: str, order_ids: set[str]) -> dict[str, dict[str, float | None]]:
    """Where the decision latency goes, from the logs themselves: per hop of the accepted orders, the
    time from a record's timestamp (set by its producer) to the event the next service stamped while
    handling it (``consume``: the fetch, the wait for the consumer, the transaction up to the emit) and
    from that stamp to the event's own record (``relay``: the commit, the relay's wake-up and send).
    One machine, one clock; across machines clock skew would enter these figures."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    await consumer.start()
    try:
        partitions = await topic_partitions(bootstrap, ("orders.commands", "orders.events", "inventory.events"))
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        wanted = {kind for hop in HOPS for kind in hop}
        seen: dict[str, dict[str, tuple[float, float]]] = defaultdict(dict)  # order -> type -> (stamp, record)
        while any([await consumer.position(tp) < ends[tp] for tp in partitions]):
            for records in (await consumer.getmany(timeout_ms=500, max_records=10_000)).values():
                for r in records:
                    value = orjson.loads(r.value)
                    order_id = value.get("payload", {}).get("order_id")
                    if value.get("type") in wanted and order_id in order_ids:
                        stamp = datetime.fromisoformat(value["occurred_at"]).timestamp() * 1000
                        seen[order_id][value["type"]] = (stamp, float(r.timestamp))
    finally:
        await consumer.stop()
    spans: dict[str, list[float]] = defaultdict(list)
    for kinds in seen.values():
        if not all(k in kinds for k in wanted):
            continue  # rejected orders stop earlier; accepted ones make every hop
        for source, target in HOPS:
            spans[f"consume {source} -> {target}"].append(kinds[target][0] - kinds[source][1])
            spans[f"relay {target}"].append(kinds[target][1] - kinds[target][0])
    return {name: percentiles(values) for name, values in spans.items()}


def _split(total: int, parts: int) -> list[int]:
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


async def topic_partitions(bootstrap: str, topics: tuple[str, ...]) -> list[TopicPartition]:
    settings = KafkaSettings(bootstrap_servers=bootstrap)
    return [TopicPartition(t, p) for t in topics for p in await partitions_of(settings, t)]
