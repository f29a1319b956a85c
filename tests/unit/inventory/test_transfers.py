"""R31, fair release across warehouses, through the inventory handlers on in-memory fakes of their port.

Two warehouses of one SKU, each with a backorder waiting: where the seller allows transfers, a receipt in
either fills the oldest (or highest-priority) one in any warehouse, which then ships from the receiving
warehouse; the ledger and the parts stay in step with the levels (R08, R12) after every move.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.inventory import domain, handlers
from services.inventory.domain import Level
from services.inventory.projection import OpenInbound, QueuedPart, project
from shared.contract import inventory as inv
from shared.contract import orders as o
from shared.domain import Rejection
from tests.unit.inventory.fakes import FakeUow, FixedClock

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
SKU, SELLER = "sku-1", "seller-1"


def world(*, transfers: bool | None = None, pool: tuple[str, ...] | None = None) -> FakeUow:
    """wh-a and wh-b, 5 backorder units each; the oldest order (2 units) waits in wh-b, a younger one
    (2 units) in wh-a."""
    uow = FakeUow(FixedClock(T0 + timedelta(days=1)))
    store = uow.inventory
    store.policies[SKU] = domain.Policy(SKU, SELLER, backorder_enabled=True, transfers_allowed=bool(transfers),
                                        transfer_warehouses=pool)
    store.seed_level(SKU, "wh-a", backorder_limit=5, backorder_allocated=2)
    store.seed_level(SKU, "wh-b", backorder_limit=5, backorder_allocated=2)
    store.seed_waiting("o-old", SKU, "wh-b", 2, T0)
    store.seed_waiting("o-young", SKU, "wh-a", 2, T0 + timedelta(minutes=5))
    return uow.acting_as("seller", SELLER)


def receipt(warehouse_id: str, qty: int, receipt_id: str = "rcpt-1") -> inv.ReceiveStock:
    return inv.ReceiveStock(receipt_id=receipt_id, sku_id=SKU, warehouse_id=warehouse_id, qty=qty)


def released(uow: FakeUow) -> list[tuple[str, str, str | None, int]]:
    """(order, waited in, ships from, qty) of every ``BackorderReleased``."""
    return [(e.order_id, e.warehouse_id, e.ship_from, e.qty) for e in uow.of_type("BackorderReleased")]


def level(uow: FakeUow, warehouse_id: str) -> tuple[int, int, int, int]:
    lv = uow.inventory.levels[(SKU, warehouse_id)]
    return (lv.on_hand, lv.allocated, lv.backorder_limit, lv.backorder_allocated)


def parts(uow: FakeUow, order_id: str) -> list[tuple[str, str, str | None, int]]:
    """(state, warehouse, ship_from, qty) of an order's parts."""
    return [(p.state, p.warehouse_id, p.ship_from, p.qty) for p in sorted(uow.inventory.parts.values(),
                                                                          key=lambda p: p.part_no)
            if p.order_id == order_id]


def assert_audit(uow: FakeUow) -> None:
    assert uow.inventory.ledger_mismatches() == []
    assert uow.inventory.parts_mismatches() == []


async def test_r31_receipt_fills_oldest_part_in_any_warehouse() -> None:
    uow = world(transfers=True)

    await handlers.receive_stock(receipt("wh-a", 3), uow)

    # the oldest order waits in wh-b: it gets wh-a's units first and ships from wh-a; the younger one in
    # wh-a gets the last unit
    assert released(uow) == [("o-old", "wh-b", "wh-a", 2), ("o-young", "wh-a", "wh-a", 1)]
    assert parts(uow, "o-old") == [("filled", "wh-b", "wh-a", 2)]
    assert parts(uow, "o-young") == [("waiting", "wh-a", None, 1), ("filled", "wh-a", None, 1)]
    # wh-a holds the units of both; wh-b's backorder promise to o-old is used up, as by a fill there
    assert level(uow, "wh-a") == (3, 3, 4, 1)
    assert level(uow, "wh-b") == (0, 0, 3, 0)
    transfers = [(m.warehouse_id, m.allocated, m.backorder_limit, m.backorder_allocated, m.order_id)
                 for m, _ in uow.inventory.ledger if m.kind == domain.TRANSFER_FILL]
    assert transfers == [("wh-a", 2, 0, 0, "o-old"), ("wh-b", 0, -2, -2, "o-old")]
    assert_audit(uow)


async def test_r31_no_transfer_without_policy() -> None:
    uow = world()

    await handlers.receive_stock(receipt("wh-a", 3), uow)

    # R11 per warehouse: wh-a's own waiting order, the third unit is regular stock; o-old in wh-b waits on
    assert released(uow) == [("o-young", "wh-a", "wh-a", 2)]
    assert parts(uow, "o-old") == [("waiting", "wh-b", None, 2)]
    assert level(uow, "wh-a") == (3, 2, 3, 0)
    assert not [m for m, _ in uow.inventory.ledger if m.kind == domain.TRANSFER_FILL]
    assert_audit(uow)


async def test_r31_highest_priority_part_in_any_warehouse_goes_first() -> None:
    uow = world(transfers=True)
    uow.inventory.seed_waiting("o-urgent", SKU, "wh-b", 1, T0 + timedelta(minutes=9))
    uow.inventory.levels[(SKU, "wh-b")].backorder_allocated += 1
    uow.inventory.ledger.append((domain.Movement(SKU, "wh-b", domain.BACKORDER_ALLOCATION, backorder_allocated=1),
                                 handlers._why(None)))
    # the priority as the seller sets it, through the port: the queue order is then the store contract's
    await handlers.prioritize_backorder(inv.PrioritizeBackorder(sku_id=SKU, order_id="o-urgent", priority=10), uow)

    await handlers.receive_stock(receipt("wh-a", 2), uow)

    # R19 across warehouses: the explicit priority first, then the oldest, wherever they wait
    assert released(uow) == [("o-urgent", "wh-b", "wh-a", 1), ("o-old", "wh-b", "wh-a", 1)]
    assert_audit(uow)


async def test_r31_a_pool_transfers_between_its_own_warehouses_only() -> None:
    uow = world(transfers=True, pool=("wh-a", "wh-c"))

    await handlers.receive_stock(receipt("wh-a", 3), uow)

    # wh-b is not in the pool: its older order is not served from wh-a
    assert released(uow) == [("o-young", "wh-a", "wh-a", 2)]
    assert parts(uow, "o-old") == [("waiting", "wh-b", None, 2)]


async def test_r31_transferred_part_is_cancelled_and_shipped_from_the_warehouse_it_ships_from() -> None:
    uow = world(transfers=True)
    await handlers.receive_stock(receipt("wh-a", 2), uow)  # o-old, waiting in wh-b, filled from wh-a
    assert parts(uow, "o-old") == [("filled", "wh-b", "wh-a", 2)]

    await handlers.on_lines_cancelled(o.LinesCancelled(
        order_id="o-old", buyer_id="b", lines=[o.CancelledLine(line_id="l1", sku_id=SKU)], reason="buyer_request",
        status="cancelled"), uow)

    # wh-a's units come back and go to the next waiting order, o-young (in wh-a itself)
    assert level(uow, "wh-a") == (2, 2, 3, 0)
    assert level(uow, "wh-b") == (0, 0, 3, 0)
    assert parts(uow, "o-young") == [("filled", "wh-a", None, 2)]
    assert_audit(uow)

    uow = world(transfers=True)
    await handlers.receive_stock(receipt("wh-a", 2), uow)
    await handlers.on_lines_shipped(o.LinesShipped(order_id="o-old", buyer_id="b", line_ids=["l1"],
                                                   tracking_number="1Z", status="shipped"), uow)
    assert level(uow, "wh-a") == (0, 0, 5, 2)  # the units left wh-a
    assert level(uow, "wh-b") == (0, 0, 3, 0)
    assert_audit(uow)


async def test_r31_allowing_transfers_fills_waiting_parts_from_free_stock_at_once() -> None:
    uow = world()
    uow.inventory.seed_level(SKU, "wh-c", on_hand=1)

    await handlers.set_transfer_policy(inv.SetTransferPolicy(sku_id=SKU, allow_transfers=True), uow)

    assert [(e.allow_transfers, e.warehouses) for e in uow.of_type("TransferPolicySet")] == [(True, None)]
    assert released(uow) == [("o-old", "wh-b", "wh-c", 1)]
    assert uow.inventory.policies[SKU].transfers_allowed
    assert_audit(uow)


@pytest.mark.parametrize(("allow", "warehouses", "reason"), [
    (False, ["wh-a", "wh-b"], "warehouses_without_transfers"),
    (True, ["wh-a", "wh-a"], "duplicate_warehouse"),
    (True, ["wh-a"], "too_few_warehouses"),
    (True, [], "too_few_warehouses"),
    (True, ["wh-a", "wh-nowhere"], "unknown_warehouse"),
])
async def test_r31_policy_with_bad_values_rejected(allow: bool, warehouses: list[str], reason: str) -> None:
    uow = world()
    uow.inventory.seed_level(SKU, "wh-c", on_hand=4)  # would fill o-old at once, were the policy taken
    before = uow.inventory.policies[SKU]

    with pytest.raises(Rejection) as refused:
        await handlers.set_transfer_policy(inv.SetTransferPolicy(sku_id=SKU, allow_transfers=allow,
                                                                 warehouses=warehouses), uow)

    assert refused.value.reason == reason
    assert uow.inventory.policies[SKU] == before
    assert uow.emitted == []
    assert parts(uow, "o-old") == [("waiting", "wh-b", None, 2)]


@pytest.mark.parametrize(("principal", "sku_id", "reason"), [("other-seller", SKU, "not_owner"),
                                                             (SELLER, "sku-unknown", "unknown_sku")])
async def test_r31_policy_of_another_sellers_or_an_unknown_sku_rejected(principal: str, sku_id: str,
                                                                       reason: str) -> None:
    uow = world().acting_as("seller", principal)
    with pytest.raises(Rejection) as refused:
        await handlers.set_transfer_policy(inv.SetTransferPolicy(sku_id=sku_id, allow_transfers=True), uow)
    assert refused.value.reason == reason
    assert not uow.inventory.policies[SKU].transfers_allowed


D1, D2 = date(2026, 12, 10), date(2026, 12, 17)


def test_r31_projection_walks_one_queue_over_the_pool_against_inbounds_of_any_warehouse() -> None:
    queue = [QueuedPart("o-old", "l1", 1, "wh-b", 2), QueuedPart("o-young", "l1", 1, "wh-a", 2)]
    inbounds = [OpenInbound("po-a", "wh-a", 2, D1), OpenInbound("po-b", "wh-b", 2, D2)]

    pooled = project(queue, inbounds, pool={"wh-a", "wh-b"})
    apart = project(queue, inbounds)

    # pooled: the oldest part takes the earliest inbound, wherever it comes in
    assert [(p.order_id, p.projected_on, p.inbound_id) for p in pooled] == [("o-old", D1, "po-a"),
                                                                            ("o-young", D2, "po-b")]
    assert [(p.order_id, p.projected_on, p.inbound_id) for p in apart] == [("o-old", D2, "po-b"),
                                                                           ("o-young", D1, "po-a")]


async def test_r31_allowing_transfers_projects_the_pool_again() -> None:
    uow = world()
    await uow.inventory.insert_inbound("po-a", SKU, "wh-a", 2, D1)
    await uow.inventory.insert_inbound("po-b", SKU, "wh-b", 2, D2)
    await handlers.prioritize_backorder(inv.PrioritizeBackorder(sku_id=SKU, order_id="o-young", priority=0), uow)
    assert [(p.order_id, p.projected_inbound) for p in uow.inventory.parts.values()] == [("o-old", "po-b"),
                                                                                        ("o-young", "po-a")]

    await handlers.set_transfer_policy(inv.SetTransferPolicy(sku_id=SKU, allow_transfers=True), uow)

    assert [(p.order_id, p.projected_inbound) for p in uow.inventory.parts.values()] == [("o-old", "po-a"),
                                                                                        ("o-young", "po-b")]
    projected = uow.of_type("BackorderProjected")[-1]
    assert {(p.order_id, p.inbound_id) for p in projected.parts} == {("o-old", "po-a"), ("o-young", "po-b")}


# ------------------------------------------------------------------ R08 under any sequence of receipts


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[tuple[str, str, int, int, int]], list[tuple[str, int]], bool]:
    """Waiting parts (order, warehouse, qty, minute placed, priority) and receipts (warehouse, qty)."""
    waiting = [(f"o{n}", draw(st.sampled_from(["wh-a", "wh-b", "wh-c"])), draw(st.integers(1, 4)),
                draw(st.integers(0, 30)), draw(st.sampled_from([0, 0, 0, 5])))
               for n in range(draw(st.integers(0, 12)))]
    receipts = draw(st.lists(st.tuples(st.sampled_from(["wh-a", "wh-b", "wh-c"]), st.integers(1, 6)), max_size=6))
    return waiting, receipts, draw(st.booleans())


def queue_key(part: Any) -> tuple[int, datetime, int]:
    return (-part.priority, part.placed_at, part.seq)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
async def test_r31_receipts_never_oversell_and_keep_ledger_and_parts_in_step(
        scenario: tuple[list[tuple[str, str, int, int, int]], list[tuple[str, int]], bool]) -> None:
    waiting, receipts, transfers = scenario
    uow = FakeUow(FixedClock(T0)).acting_as("seller", SELLER)
    store = uow.inventory
    store.policies[SKU] = domain.Policy(SKU, SELLER, backorder_enabled=True, transfers_allowed=transfers)
    for wh in ("wh-a", "wh-b", "wh-c"):
        units = sum(q for _, w, q, _, _ in waiting if w == wh)
        store.seed_level(SKU, wh, backorder_limit=units + 2, backorder_allocated=units)
    for order_id, wh, qty, minute, priority in waiting:
        store.seed_waiting(order_id, SKU, wh, qty, T0 + timedelta(minutes=minute), priority)

    for number, (wh, qty) in enumerate(receipts):
        still = [replace(p) for p in store.parts.values() if p.state == domain.WAITING]
        served = [p for p in still if transfers or p.warehouse_id == wh]
        await handlers.receive_stock(receipt(wh, qty, f"rcpt-{number}"), uow)
        # never more than received; the head of the queue first: every part still waiting that this
        # receipt could serve ranks after every part it served
        got = [e for e in uow.of_type("BackorderReleased") if e.receipt_id == f"rcpt-{number}"]
        assert sum(e.qty for e in got) == min(qty, sum(p.qty for p in served))
        assert all(e.ship_from == wh for e in got)
        after = {p.key: p for p in store.parts.values()}
        left = [p for p in served if after[p.key].state == domain.WAITING and after[p.key].qty == p.qty]
        taken = [p for p in served if p not in left]
        assert all(queue_key(a) < queue_key(b) for a in taken for b in left)

    for lv in store.levels.values():
        Level.check(lv)
    assert_audit(uow)
