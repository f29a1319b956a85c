"""What the fault tests share: a mixed order workload, and the checks of the end state.

The workload is one seller's catalog (SKUs with regular and backorder stock), then orders
(one or two lines), restocks, cancellations and, for the catalog, new sellers with their
listings, all published through Kafka like any other platform service would. The checks
read the end state through the events on the topics, the services' read routes and, where
no route exists, the services' own databases (read only):

* every order has exactly one decision: one ``OrderAccepted`` or ``OrderRejected`` event id
  (a republished event keeps its event id: that is at-least-once delivery, not a second
  decision) and one ``StockAllocated`` or ``AllocationRejected`` event id;
* every stock ledger rebuilds to its stored levels, the allocation parts add up to them and
  no level is oversold (inventory's ``/audit/ledger`` and the levels themselves);
* every email notification reached the SMTP server, counted by ``Message-ID`` and in total;
* no message of the workload was dead-lettered.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import asyncpg

from devstack.client import Observed, PlatformClient
from devstack.smtp import read_mail
from devstack.stack import Stack
from shared.contract.catalog import ActivateBackorder, RegisterSeller, UpsertListing, WarehouseQty
from shared.contract.envelope import Envelope, Payload
from shared.contract.inventory import ReceiveStock, SetStock
from shared.contract.orders import CancelLines, OrderLine, PlaceOrder

T = TypeVar("T")
WAREHOUSE = "wh-1"
DECISIONS = ("OrderAccepted", "OrderRejected")
ALLOCATION_OUTCOMES = ("StockAllocated", "AllocationRejected")


async def poll(check: Callable[[], Awaitable[T]], what: str, within_s: float = 60.0, every_s: float = 0.2) -> T:
    """Call ``check()`` until it returns something truthy; fail with ``what`` after the deadline."""
    deadline = time.monotonic() + within_s
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within_s}s waiting for {what} (last: {result!r})")
        await asyncio.sleep(every_s)


async def http_json(url: str, timeout_s: float = 5.0) -> tuple[int, Any]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_s)) as session, \
            session.get(url) as response:
        return response.status, await response.json(content_type=None)


async def readyz(stack: Stack, service: str, instance: int = 0) -> int:
    """The HTTP status of a service's ``/readyz`` (0 when it does not answer at all)."""
    try:
        status, _ = await http_json(stack.services[(service, instance)].url + "/readyz", timeout_s=2.0)
        return status
    except (aiohttp.ClientError, TimeoutError, OSError):
        return 0


def log_events(stack: Stack, service: str, event: str, instance: int = 0) -> list[dict[str, Any]]:
    """The JSON log lines of one service instance whose ``event`` is ``event``."""
    found = []
    for line in stack.services[(service, instance)].log.read_text(errors="replace").splitlines():
        if f'"{event}"' not in line:
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("event") == event:
            found.append(entry)
    return found


async def query(stack: Stack, service: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(stack.dsn(service))
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


async def execute(stack: Stack, service: str, sql: str) -> None:
    """Run SQL in a service's database (a test injecting or removing a fault)."""
    conn = await asyncpg.connect(stack.dsn(service))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@dataclass
class Sent:
    """What the workload published, by kind, with the envelope of each command."""

    orders: dict[str, Envelope[Any]] = field(default_factory=dict)
    cancels: dict[str, Envelope[Any]] = field(default_factory=dict)
    receipts: dict[str, Envelope[Any]] = field(default_factory=dict)
    catalog: list[Envelope[Any]] = field(default_factory=list)
    other: list[Envelope[Any]] = field(default_factory=list)

    @property
    def commands(self) -> int:
        return len(self.orders) + len(self.cancels) + len(self.receipts) + len(self.catalog) + len(self.other)


class Workload:
    """A reproducible mix: ``n_orders`` orders over ``n_skus`` SKUs, with restocks and cancellations."""

    def __init__(self, client: PlatformClient, *, n_orders: int = 1000, n_skus: int = 8, regular: int = 40,
                 backorder: int = 80, seed: int = 8, cancel_share: float = 0.08, restock_every: int = 60,
                 new_seller_every: int = 50, buyers: int = 60) -> None:
        self.client = client
        self.run = uuid.uuid4().hex[:6]
        self.rng = random.Random(seed)
        self.n_orders = n_orders
        self.skus = [f"sku-{self.run}-{i}" for i in range(n_skus)]
        self.seller = f"seller-{self.run}"
        self.regular = regular
        self.backorder = backorder
        self.cancel_share = cancel_share
        self.restock_every = restock_every
        self.new_seller_every = new_seller_every
        self.buyers = buyers
        self.sent = Sent()
        self.setup_commands = 0

    def order_id(self, i: int) -> str:
        return f"o-{self.run}-{i:05d}"

    def buyer(self, i: int) -> str:
        return f"b-{self.run}-{i % self.buyers:03d}"

    # ------------------------------------------------------------------ publishing

    async def setup(self, timeout: float = 60.0) -> None:
        """The seller, one listing with every SKU, backorder on each, regular stock; waits for inventory."""
        c = self.client
        await c.send(RegisterSeller(seller_id=self.seller, region="US", backorder_eligible=True))
        await c.send(UpsertListing(seller_id=self.seller, listing_id=f"listing-{self.run}", category="home",
                                   title="Fault-suite lamp", sku_ids=self.skus))
        for sku in self.skus:
            await c.send(ActivateBackorder(seller_id=self.seller, sku_id=sku, handling_days=5,
                                           backorder_stock=[WarehouseQty(warehouse_id=WAREHOUSE, qty=self.backorder)]))
            await c.send(SetStock(sku_id=sku, warehouse_id=WAREHOUSE, on_hand=self.regular))
        self.setup_commands = 2 + 2 * len(self.skus)
        skus = set(self.skus)

        def stocked(o: Observed) -> bool:
            p = o.payload
            return (o.type == "StockChanged" and p.get("sku_id") in skus and p.get("on_hand") == self.regular
                    and p.get("backorder_limit") == self.backorder)

        await poll(lambda: _ready(c, stocked, skus), "inventory to hold every SKU's stock", timeout)
        # orders dates backorder lines with the seller's handling time once it knows the SKU (else a default)
        await c.wait_for(lambda o: o.type == "BackorderActivated" and o.payload.get("sku_id") == self.skus[-1],
                         timeout=timeout)

    def _order(self, i: int) -> PlaceOrder:
        n_lines = 1 if self.rng.random() < 0.8 else 2
        skus = self.rng.sample(self.skus, n_lines)
        buyer = self.buyer(i)
        return PlaceOrder(order_id=self.order_id(i), buyer_id=buyer, buyer_email=f"{buyer}@example.com", region="US",
                          lines=[OrderLine(line_id=f"l{n}", sku_id=sku, qty=self.rng.randint(1, 2))
                                 for n, sku in enumerate(skus, start=1)])

    async def publish(self, *, per_second: float = 60.0, start: int = 0, count: int | None = None,
                      on_progress: Callable[[int], Awaitable[None]] | None = None) -> None:
        """Publish orders ``start..start+count`` at about ``per_second``, with restocks, cancellations and
        catalog traffic mixed in."""
        c = self.client
        count = self.n_orders - start if count is None else count
        began = time.monotonic()
        for n, i in enumerate(range(start, start + count)):
            self.sent.orders[self.order_id(i)] = await c.send(self._order(i))
            if i > 10 and self.rng.random() < self.cancel_share:
                victim = self.order_id(self.rng.randrange(max(0, i - 40), i))
                if victim not in self.sent.cancels:
                    self.sent.cancels[victim] = await c.send(CancelLines(order_id=victim, line_ids=["l1"]))
            if i and i % self.restock_every == 0:
                receipt = f"rcpt-{self.run}-{i}"
                self.sent.receipts[receipt] = await c.send(ReceiveStock(
                    receipt_id=receipt, sku_id=self.rng.choice(self.skus), warehouse_id=WAREHOUSE, qty=12))
            if self.new_seller_every and i and i % self.new_seller_every == 0:
                await self._new_seller(i)
            if on_progress is not None:
                await on_progress(i)
            ahead = (n + 1) / per_second - (time.monotonic() - began)
            if ahead > 0:
                await asyncio.sleep(ahead)

    async def _new_seller(self, i: int) -> None:
        seller, sku = f"seller-{self.run}-{i}", f"sku-{self.run}-n{i}"
        self.sent.catalog.append(await self.client.send(RegisterSeller(seller_id=seller, region="DE",
                                                                       backorder_eligible=True)))
        self.sent.catalog.append(await self.client.send(UpsertListing(
            seller_id=seller, listing_id=f"listing-{self.run}-{i}", category="fashion", title="Leinenhemd",
            sku_ids=[sku])))
        self.sent.catalog.append(await self.client.send(ActivateBackorder(
            seller_id=seller, sku_id=sku, handling_days=7, backorder_stock=[WarehouseQty(warehouse_id="wh-2",
                                                                                        qty=5)])))

    async def send(self, payload: Payload) -> Envelope[Any]:
        envelope = await self.client.send(payload)
        self.sent.other.append(envelope)
        return envelope


async def _ready(client: PlatformClient, stocked: Callable[[Observed], bool], skus: set[str]) -> bool:
    return {o.payload["sku_id"] for o in client.matching(stocked)} == skus


# ---------------------------------------------------------------------- the checks


def decision_kind(o: Observed) -> str | None:
    """What decided an order on ``orders.events``: accepted, rejected, or - all its lines were cancelled
    before stock was allocated - the cancellation that the allocation outcome turned into."""
    if o.type in DECISIONS:
        return o.type
    if o.type == "LinesCancelled" and o.payload.get("reason") == "cancelled_before_allocation":
        return "CancelledBeforeAllocation"
    return None


def is_decision(o: Observed) -> bool:
    return decision_kind(o) is not None


def event_ids_by_order(client: PlatformClient, topic: str, accept: Callable[[Observed], bool],
                       orders: Iterable[str]) -> dict[str, set[str]]:
    wanted = set(orders)
    found: dict[str, set[str]] = defaultdict(set)
    for o in client.observed:
        if o.topic == topic and o.payload.get("order_id") in wanted and accept(o):
            found[o.payload["order_id"]].add(str(o.value["event_id"]))
    return found


def _allocation_outcome(o: Observed) -> bool:
    return o.type in ALLOCATION_OUTCOMES


async def undecided_orders(stack: Stack, client: PlatformClient, orders: Iterable[str]) -> list[str]:
    """Orders without inventory's allocation outcome (event), the decision recorded by orders (row), or the
    decision event (none only for an order whose every line was cancelled before its allocation was
    rejected: there is nothing left to tell)."""
    wanted = list(orders)
    allocated = event_ids_by_order(client, "inventory.events", _allocation_outcome, wanted)
    told = event_ids_by_order(client, "orders.events", is_decision, wanted)
    rows = {r["order_id"]: r["status"] for r in await query(
        stack, "orders", "SELECT order_id, status FROM orders WHERE order_id = any($1::text[]) "
                         "AND decided_at IS NOT NULL", wanted)}
    return sorted(o for o in wanted
                  if o not in allocated or o not in rows or (o not in told and rows[o] != "cancelled"))


async def wait_for_decisions(stack: Stack, client: PlatformClient, orders: Iterable[str], within_s: float) -> None:
    wanted = list(orders)
    left: list[str] = []

    async def all_decided() -> bool:
        nonlocal left
        left = await undecided_orders(stack, client, wanted)
        return not left

    try:
        await poll(all_decided, "a decision on every order", within_s, every_s=0.5)
    except AssertionError:
        where = await diagnose(stack)
        raise AssertionError(f"{len(left)} of {len(wanted)} orders never got a decision, e.g. {left[:5]}; "
                             f"{where}") from None


async def diagnose(stack: Stack) -> str:
    """What each service is doing (py-spy stacks under ``<root>/diagnostics``) and its outbox backlog."""
    out = stack.root / "diagnostics"
    out.mkdir(exist_ok=True)
    spy = Path(sys.executable).parent / "py-spy"
    found = []
    for (service, instance), process in stack.services.items():
        backlog: Any = "?"
        with contextlib.suppress(Exception):
            [row] = await query(stack, service, "SELECT count(*) AS n FROM outbox WHERE published_at IS NULL")
            backlog = row["n"]
        if spy.exists() and process.proc.poll() is None:
            dump = await asyncio.create_subprocess_exec(
                str(spy), "dump", "--pid", str(process.proc.pid), stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT)
            text, _ = await dump.communicate()
            (out / f"{service}-{instance}.txt").write_bytes(text)
        found.append(f"{service}-{instance}: alive={process.proc.poll() is None} unpublished={backlog}")
    return f"{'; '.join(found)} (stacks in {out})"


@dataclass
class Verdict:
    """The figures a fault test asserts on and reports."""

    orders: int = 0
    accepted: int = 0
    rejected: int = 0
    backordered: int = 0
    cancelled: int = 0
    decision_events: int = 0
    republished_decisions: int = 0
    double_decisions: list[str] = field(default_factory=list)
    double_allocations: list[str] = field(default_factory=list)
    missing_decisions: list[str] = field(default_factory=list)
    audit: dict[str, Any] = field(default_factory=dict)
    oversold: list[Any] = field(default_factory=list)
    emails_expected: int = 0
    emails_received: int = 0
    emails_unique: int = 0
    emails_missing: list[str] = field(default_factory=list)
    emails_unexpected: list[str] = field(default_factory=list)
    emails_failed: dict[str, int] = field(default_factory=dict)
    dead_letters: list[Observed] = field(default_factory=list)

    @property
    def emails_duplicated(self) -> int:
        return self.emails_received - self.emails_unique

    def summary(self) -> str:
        return (f"{self.orders} orders: {self.accepted} accepted ({self.backordered} with backordered lines), "
                f"{self.rejected} rejected, {self.cancelled} with cancelled lines; decision events "
                f"{self.decision_events} ({self.republished_decisions} republished copies); double decisions "
                f"{len(self.double_decisions)}, missing {len(self.missing_decisions)}; ledger audit "
                f"{self.audit.get('ledger_matches_levels')}/{self.audit.get('parts_match_levels')} over "
                f"{self.audit.get('ledger_rows')} ledger rows, oversold {len(self.oversold)}; emails expected "
                f"{self.emails_expected}, received {self.emails_received}, unique {self.emails_unique}, missing "
                f"{len(self.emails_missing)}; dead letters {len(self.dead_letters)}")


async def decision_figures(stack: Stack, client: PlatformClient, orders: Iterable[str], verdict: Verdict) -> None:
    """Exactly one decision per order: inventory's allocation outcome (one event id), the decision orders
    recorded (its row), and at most one decision event (none only for an order whose every line was
    cancelled before an ``AllocationRejected``: there is nothing left to tell)."""
    wanted = list(orders)
    decisions = event_ids_by_order(client, "orders.events", is_decision, wanted)
    allocations = event_ids_by_order(client, "inventory.events", _allocation_outcome, wanted)
    rows = {r["order_id"]: r for r in await query(
        stack, "orders", "SELECT order_id, status, decided_at FROM orders WHERE order_id = any($1::text[])", wanted)}
    copies = Counter(str(o.value["event_id"]) for o in client.observed if o.topic == "orders.events" and is_decision(o))
    verdict.orders = len(wanted)
    by_kind: dict[str, Counter[str]] = defaultdict(Counter)
    for o in client.observed:
        kind = decision_kind(o) if o.topic == "orders.events" else None
        if kind is not None and o.payload.get("order_id") in decisions:
            by_kind[o.payload["order_id"]][kind] += 0  # the kinds seen
            by_kind[o.payload["order_id"]][f"{kind}:{o.value['event_id']}"] = 1
    # one accepted-or-rejected event id (an order partly cancelled before allocation also gets a cancellation)
    verdict.double_decisions = sorted(
        order for order, seen in by_kind.items()
        if sum(1 for k in seen if k.startswith(("OrderAccepted:", "OrderRejected:"))) > 1
        or sum(1 for k in seen if k.startswith("CancelledBeforeAllocation:")) > 1)
    verdict.double_allocations = sorted(o for o, ids in allocations.items() if len(ids) > 1)
    silent_ok = {o for o in wanted if o not in decisions and rows.get(o) is not None
                 and rows[o]["status"] == "cancelled" and rows[o]["decided_at"] is not None}
    verdict.missing_decisions = sorted(
        {o for o in wanted if o not in allocations or rows.get(o) is None or rows[o]["decided_at"] is None}
        | (set(wanted) - set(decisions) - silent_ok))
    verdict.decision_events = sum(len(ids) for ids in decisions.values())
    verdict.republished_decisions = sum(n - 1 for n in copies.values())
    verdict.accepted = sum(1 for r in rows.values() if r["status"] not in ("rejected", "cancelled", "pending"))
    verdict.rejected = sum(1 for r in rows.values() if r["status"] == "rejected")
    backordered = {o.payload.get("order_id") for o in client.observed
                   if o.topic == "orders.events" and o.type == "OrderAccepted"
                   and "back_order" in o.payload.get("tags", [])}
    verdict.backordered = len(backordered & set(wanted))
    wanted_set = set(wanted)
    verdict.cancelled = len({o.payload["order_id"] for o in client.observed
                             if o.type == "LinesCancelled" and o.payload.get("order_id") in wanted_set})


async def inventory_figures(stack: Stack, verdict: Verdict, instance: int = 0) -> None:
    _, verdict.audit = await http_json(stack.services[("inventory", instance)].url + "/audit/ledger", timeout_s=30)
    verdict.oversold = [dict(r) for r in await query(stack, "inventory", """
        SELECT sku_id, warehouse_id, on_hand, allocated, backorder_limit, backorder_allocated FROM stock_levels
        WHERE allocated < 0 OR allocated > on_hand OR backorder_allocated < 0
              OR backorder_allocated > backorder_limit""")]


def mails(stack: Stack, orders: Iterable[str]) -> list[EmailMessage]:
    wanted = set(orders)
    return [m for m in read_mail(stack.mail_dir) if str(m.get("X-Order-Id", "")) in wanted]


async def email_figures(stack: Stack, orders: Iterable[str], verdict: Verdict, within_s: float = 60.0,
                        failed_ok: bool = False) -> None:
    """Every email notification the service decided on reached the SMTP server: by Message-ID, and in total.

    ``failed_ok``: emails recorded as failed are counted (``verdict.emails_failed``, by error) instead of
    failing the test."""
    wanted = list(orders)
    rows: list[asyncpg.Record] = []
    received: list[EmailMessage] = []

    async def email_rows() -> list[asyncpg.Record]:
        return await query(stack, "notifications", """
            SELECT notification_id::text AS id, status, last_error FROM notifications
            WHERE channel = 'email' AND order_id = any($1::text[]) ORDER BY notification_id""", wanted)

    async def settled() -> bool:
        """A consistent picture: no email left to send, and the same rows before and after reading the mailbox
        (a late event may still queue a new one)."""
        nonlocal rows, received
        rows = await email_rows()
        if not rows or any(r["status"] not in ("sent", "failed") for r in rows):
            return False
        received = mails(stack, wanted)
        return [tuple(r) for r in await email_rows()] == [tuple(r) for r in rows] and \
            {r["id"] for r in rows if r["status"] == "sent"} <= {str(m.get("X-Notification-Id")) for m in received}

    try:
        await poll(settled, "every queued email to be sent and in the mailbox", within_s, every_s=0.5)
    except AssertionError:
        states = Counter(r["status"] for r in rows)
        raise AssertionError(f"emails not settled after {within_s}s: {dict(states)}, {len(received)} in the "
                             f"mailbox") from None
    failed = [r for r in rows if r["status"] == "failed"]
    verdict.emails_failed = dict(Counter(str(r["last_error"]) for r in failed))
    assert failed_ok or not failed, f"{len(failed)} emails failed: {verdict.emails_failed}"
    expected = {r["id"] for r in rows if r["status"] == "sent"}
    by_notification = Counter(str(m.get("X-Notification-Id", "")) for m in received)
    verdict.emails_expected = len(expected)
    verdict.emails_received = sum(by_notification.values())
    verdict.emails_unique = len(by_notification)
    verdict.emails_missing = sorted(expected - set(by_notification))
    verdict.emails_unexpected = sorted(set(by_notification) - expected)
    message_ids = {str(m.get("Message-ID", "")) for m in received}
    assert len(message_ids) == verdict.emails_unique, "one notification, one Message-ID"


def dead_letters(client: PlatformClient, run: str | None = None) -> list[Observed]:
    """Dead letters seen; with ``run``, only those keyed by a workload's ids (a shared platform has others)."""
    return [o for o in client.observed if o.topic.endswith(".dlq") and (run is None or run in str(o.key))]


def assert_nothing_lost_or_doubled(verdict: Verdict, *, duplicate_emails_allowed: int = 0) -> None:
    assert not verdict.missing_decisions, f"orders without a decision: {verdict.missing_decisions[:10]}"
    assert not verdict.double_decisions, f"orders decided twice: {verdict.double_decisions[:10]}"
    assert not verdict.double_allocations, f"orders allocated twice: {verdict.double_allocations[:10]}"
    assert verdict.audit.get("ledger_matches_levels") is True, verdict.audit
    assert verdict.audit.get("parts_match_levels") is True, verdict.audit
    assert not verdict.oversold, verdict.oversold
    assert not verdict.emails_missing, f"{len(verdict.emails_missing)} emails never arrived"
    assert not verdict.emails_unexpected, f"emails nobody decided on: {verdict.emails_unexpected[:5]}"
    assert verdict.emails_unique == verdict.emails_expected
    assert verdict.emails_duplicated <= duplicate_emails_allowed, \
        f"{verdict.emails_duplicated} emails arrived twice (allowed: {duplicate_emails_allowed})"
    assert not verdict.dead_letters, [(o.topic, o.value.get("reason"), o.value.get("error")) for o in
                                      verdict.dead_letters[:5]]


@contextlib.contextmanager
def platform_of_its_own(stack: Stack, request: Any, env: dict[str, str]) -> Iterator[Stack]:
    """Start a stack that one test module owns (infrastructure and services), and stop all of it after,
    printing the services' logs if a test of the module failed."""
    from tests.conftest import dump_logs_on_failure

    stack.service_env_extra.update(env)
    try:
        stack.start_infra()
        stack.start_all()
        yield stack
    finally:
        stack.stop_all()
        dump_logs_on_failure(stack, request)
