"""R13-R19 through Kafka against the running orders service (catalog and inventory played by the test).

The clock is frozen at Monday 2026-11-23 09:00 New York (14:00 UTC), in Thanksgiving week, so
every date below is hand-checked: regular parts ship by Wed Nov 25 (2 business days), a 3-day
backorder by Fri Nov 27 (Thu Nov 26 is Thanksgiving), and US transit adds 5 business days.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest

from devstack.client import PlatformClient
from devstack.stack import Stack
from shared.contract import inventory as inv
from shared.contract import orders as o
from tests.integration.test_orders_support import (
    EVENTS,
    ClockFile,
    activate,
    allocate,
    buyer,
    command,
    event,
    get_json,
    get_page,
    listing,
    on_order,
    orders_url,
    part,
    place,
    publish,
    release,
    seller,
    seller_principal,
    sku_known,
    wait_http,
)

pytestmark = pytest.mark.integration

T0 = "2026-11-23T14:00:00+00:00"


@pytest.fixture(scope="module")
def clock(tmp_path_factory: pytest.TempPathFactory) -> ClockFile:
    clock = ClockFile(tmp_path_factory.mktemp("orders-clock") / "now")
    clock.set(T0)
    return clock


@pytest.fixture(scope="module", autouse=True)
def services(stack: Stack, clock: ClockFile) -> Iterator[None]:
    stack.start_service("orders", extra_env={**clock.env, "SLA_POLL_S": "0.2"})
    stack.wait_ready()
    yield


@pytest.fixture(scope="module", autouse=True)
async def catalog(services: None, stack: Stack, client: PlatformClient) -> None:
    """Two sellers; s1 has a regular SKU and two backorder SKUs (3 and 5 business days)."""
    await seller(client, "s1")
    await seller(client, "s2")
    await listing(client, "s1", "L1", ["sku-reg", "sku-reg2", "sku-bo", "sku-bo5"])
    await listing(client, "s2", "L2", ["sku-s2"])
    await activate(client, "s1", "L1", "sku-bo", 3)
    await activate(client, "s1", "L1", "sku-bo5", 5)
    await sku_known(stack, "sku-bo5", listing_type="backorder", handling_days=5, region="US")
    await sku_known(stack, "sku-s2", seller_id="s2")


async def accepted(client: PlatformClient, order_id: str, lines: dict[str, tuple[str, list[inv.AllocatedPart]]],
                   buyer_id: str = "buyer-1") -> dict[str, Any]:
    """Place an order (as its buyer), allocate it (as inventory) and return OrderAccepted's payload."""
    placed = await command(client, place(order_id, [(lid, sku, sum(p.qty for p in parts))
                                                    for lid, (sku, parts) in lines.items()], buyer_id),
                           principal=buyer(buyer_id))
    assert placed.type == "OrderPlaced", placed.payload
    await allocate(client, order_id, lines)
    return (await event(client, order_id, "OrderAccepted")).payload


# ---------------------------------------------------------------- R13, R14


async def test_r13_r14_backorder_order_is_tagged_awaiting_shipment_with_business_day_dates(
        client: PlatformClient, stack: Stack) -> None:
    placed = await command(client, place("o-r13", [("l1", "sku-reg", 1), ("l2", "sku-bo", 3)]), principal=buyer())
    assert placed.type == "OrderPlaced"
    assert placed.payload["placed_at"].startswith("2026-11-23T14:00:00")  # the service's clock
    assert placed.payload["timezone"] == "America/New_York"
    await allocate(client, "o-r13", {"l1": ("sku-reg", [part("regular", 1)]),
                                     "l2": ("sku-bo", [part("regular", 1), part("backorder", 2, "wh-2")])})
    accepted_ = (await event(client, "o-r13", "OrderAccepted")).payload
    assert accepted_["status"] == "awaiting_shipment"
    assert accepted_["tags"] == ["back_order"]
    assert accepted_["buyer_id"] == "buyer-1"
    parts = {(line["line_id"], p["source"]): p for line in accepted_["lines"] for p in line["parts"]}
    assert parts[("l1", "regular")]["ship_by"] == "2026-11-25"  # standard dispatch, 2 business days
    assert parts[("l2", "backorder")]["ship_by"] == "2026-11-27"  # 3 business days, Thanksgiving skipped
    assert parts[("l2", "backorder")]["estimated_delivery"] == "2026-12-04"  # + 5 US transit days
    assert parts[("l2", "backorder")]["warehouse_id"] == "wh-2"
    assert {line["seller_id"] for line in accepted_["lines"]} == {"s1"}

    view = await get_json(f"{orders_url(stack)}/orders/o-r13")
    assert view["status"] == "awaiting_shipment" and view["tags"] == ["back_order"]
    assert view["lines"][1]["state"] == "awaiting_stock" and view["lines"][1]["waiting_qty"] == 2


async def test_r08_allocation_rejected_rejects_the_order(client: PlatformClient) -> None:
    await command(client, place("o-r08", [("l1", "sku-reg", 9)]), principal=buyer())
    await publish(client, "inventory.events", inv.AllocationRejected(order_id="o-r08", reason="out_of_stock",
                                                                     line_ids=["l1"]), key="o-r08")
    rejected = await event(client, "o-r08", "OrderRejected")
    # version 1 for this release, which 0.1.0's consumers read (shared/contract/upcasting.py, EMITTED)
    assert (rejected.value["version"], rejected.payload) == (1, {
        "order_id": "o-r08", "buyer_id": "buyer-1", "reason": "out_of_stock", "line_ids": ["l1"]})
    answer = await command(client, o.ShipLines(order_id="o-r08", line_ids=["l1"], tracking_number="T"))
    assert (answer.type, answer.payload["reason"]) == ("CommandRejected", "order_rejected")


# ---------------------------------------------------------------- R16, R11


async def test_r16_split_shipments_partially_shipped_then_shipped_then_delivered(client: PlatformClient) -> None:
    await accepted(client, "o-r16", {"l1": ("sku-reg", [part("regular", 1)]),
                                     "l2": ("sku-bo", [part("backorder", 2)])})
    s1 = seller_principal("s1")
    shipped = await command(client, o.ShipLines(order_id="o-r16", line_ids=["l1"], tracking_number="T1"), s1)
    assert (shipped.type, shipped.payload["status"], shipped.payload["line_ids"]) == (
        "LinesShipped", "partially_shipped", ["l1"])

    early = await command(client, o.ShipLines(order_id="o-r16", line_ids=["l2"], tracking_number="T2"), s1)
    assert (early.type, early.payload["reason"]) == ("CommandRejected", "awaiting_stock")

    await release(client, "o-r16", "l2", "sku-bo", 1)  # a partial release: not yet ready
    last = await release(client, "o-r16", "l2", "sku-bo", 1)
    released = await client.wait_caused_by(last)
    assert released.type == "LinesReleased"
    assert released.payload["lines"] == [{"line_id": "l2", "sku_id": "sku-bo", "qty": 2, "ship_by": "2026-11-27",
                                          "estimated_delivery": "2026-12-04"}]
    assert len(client.matching(on_order("o-r16", "LinesReleased"))) == 1

    done = await command(client, o.ShipLines(order_id="o-r16", line_ids=["l2"], tracking_number="T2"), s1)
    assert (done.type, done.payload["status"]) == ("LinesShipped", "shipped")
    delivered = await command(client, o.ConfirmDelivery(order_id="o-r16", tracking_number="T1"))
    assert (delivered.type, delivered.payload["status"]) == ("OrderDelivered", "shipped")
    delivered = await command(client, o.ConfirmDelivery(order_id="o-r16", tracking_number="T2"), buyer())
    assert (delivered.type, delivered.payload["status"]) == ("OrderDelivered", "delivered")


# ---------------------------------------------------------------- R17


async def test_r17_buyer_cancels_a_backordered_line_and_its_stock_goes_back(client: PlatformClient) -> None:
    await accepted(client, "o-r17", {"l1": ("sku-reg", [part("regular", 1)]),
                                     "l2": ("sku-bo", [part("regular", 1), part("backorder", 1)])})
    cancelled = await command(client, o.CancelLines(order_id="o-r17", line_ids=["l2"], reason="too_slow"), buyer())
    assert cancelled.type == "LinesCancelled"
    assert cancelled.payload["status"] == "awaiting_shipment"
    assert cancelled.payload["reason"] == "too_slow"
    assert cancelled.payload["lines"] == [{"line_id": "l2", "sku_id": "sku-bo", "parts": [
        {"warehouse_id": "wh-1", "source": "regular", "qty": 1, "released_qty": 0},
        {"warehouse_id": "wh-1", "source": "backorder", "qty": 1, "released_qty": 0},
    ]}]

    await command(client, o.ShipLines(order_id="o-r17", line_ids=["l1"], tracking_number="T"), seller_principal("s1"))
    refused = await command(client, o.CancelLines(order_id="o-r17", line_ids=["l1"]), buyer())
    assert (refused.type, refused.payload["reason"]) == ("CommandRejected", "already_shipped")
    after = await command(client, o.ShipLines(order_id="o-r17", line_ids=["l2"], tracking_number="T9"))
    assert (after.type, after.payload["reason"]) == ("CommandRejected", "line_cancelled")


async def test_r17_cancel_before_allocation_returns_the_allocation_when_it_arrives(client: PlatformClient) -> None:
    await command(client, place("o-r17b", [("l1", "sku-bo", 2)]), principal=buyer())
    first = await command(client, o.CancelLines(order_id="o-r17b", line_ids=["l1"]), buyer())
    assert (first.type, first.payload["status"], first.payload["lines"][0]["parts"]) == (
        "LinesCancelled", "cancelled", [])
    late = await allocate(client, "o-r17b", {"l1": ("sku-bo", [part("backorder", 2)])})
    returned = await client.wait_caused_by(late)
    assert returned.type == "LinesCancelled"
    assert returned.payload["reason"] == "cancelled_before_allocation"
    assert returned.payload["lines"][0]["parts"][0]["qty"] == 2


# ---------------------------------------------------------------- R06a: who may act


async def test_r06a_seller_ships_only_its_own_lines_and_buyer_acts_only_on_its_orders(client: PlatformClient) -> None:
    await accepted(client, "o-auth", {"l1": ("sku-reg", [part("regular", 1)])})
    foreign = await command(client, o.ShipLines(order_id="o-auth", line_ids=["l1"], tracking_number="T"),
                            seller_principal("s2"))
    assert (foreign.type, foreign.payload["reason"]) == ("CommandRejected", "not_owner")
    by_buyer = await command(client, o.ShipLines(order_id="o-auth", line_ids=["l1"], tracking_number="T"), buyer())
    assert (by_buyer.type, by_buyer.payload["reason"]) == ("CommandRejected", "forbidden")
    intruder = await command(client, o.CancelLines(order_id="o-auth", line_ids=["l1"]), buyer("buyer-2"))
    assert (intruder.type, intruder.payload["reason"]) == ("CommandRejected", "not_owner")
    other = await command(client, place("o-auth-2", [("l1", "sku-reg", 1)], buyer_id="buyer-1"), buyer("buyer-2"))
    assert (other.type, other.payload["reason"]) == ("CommandRejected", "not_owner")
    unknown = await command(client, o.CancelLines(order_id="o-nope", line_ids=["l1"]))
    assert (unknown.type, unknown.payload["reason"]) == ("CommandRejected", "unknown_order")


# ---------------------------------------------------------------- R18


async def test_r18_replacement_for_a_backorder_or_out_of_stock_sku_becomes_refund_only(
        client: PlatformClient, stack: Stack) -> None:
    await accepted(client, "o-r18", {"l1": ("sku-bo", [part("regular", 1)]),
                                     "l2": ("sku-reg2", [part("regular", 1)])})
    await command(client, o.ShipLines(order_id="o-r18", line_ids=["l1", "l2"], tracking_number="T"))
    refund = await command(client, o.RequestReplacement(order_id="o-r18", line_id="l1"), buyer())
    assert refund.type == "RefundRequested"
    assert (refund.payload["reason"], refund.payload["detail"], refund.payload["buyer_id"]) == (
        "replacement_unavailable", "sku_on_backorder", "buyer-1")

    # sku-reg2 is regular; inventory says it has no stock left to promise -> refund too
    await publish(client, "inventory.events", inv.StockChanged(
        sku_id="sku-reg2", warehouse_id="wh-1", on_hand=1, allocated=1, backorder_limit=0, backorder_allocated=0,
        available_to_promise=0, total=0, sku_available_to_promise=0, sku_total=0), key="sku-reg2")
    await wait_http(f"{orders_url(stack)}/skus/sku-reg2", lambda body: body["out_of_stock"] is True)
    out = await command(client, o.RequestReplacement(order_id="o-r18", line_id="l2"), buyer())
    assert (out.type, out.payload["detail"]) == ("RefundRequested", "out_of_stock")
    again = await command(client, o.RequestReplacement(order_id="o-r18", line_id="l2"), buyer())
    assert (again.type, again.payload["reason"]) == ("CommandRejected", "replacement_already_requested")


async def test_r18_replacement_for_a_regular_sku_in_stock_is_accepted(client: PlatformClient, stack: Stack) -> None:
    await publish(client, "inventory.events", inv.StockChanged(
        sku_id="sku-s2", warehouse_id="wh-1", on_hand=5, allocated=0, backorder_limit=0, backorder_allocated=0,
        available_to_promise=5, total=5, sku_available_to_promise=5, sku_total=5), key="sku-s2")
    await accepted(client, "o-r18b", {"l1": ("sku-s2", [part("regular", 1)])})
    await wait_http(f"{orders_url(stack)}/skus/sku-s2", lambda body: body["available_to_promise"] == 5)
    await command(client, o.ShipLines(order_id="o-r18b", line_ids=["l1"], tracking_number="T"),
                  seller_principal("s2"))
    answer = await command(client, o.RequestReplacement(order_id="o-r18b", line_id="l1"), buyer())
    assert (answer.type, answer.payload["sku_id"], answer.payload["qty"]) == ("ReplacementAccepted", "sku-s2", 1)
    not_shipped = await command(client, o.RequestReplacement(order_id="o-r17", line_id="l2"), buyer())
    assert (not_shipped.type, not_shipped.payload["reason"]) == ("CommandRejected", "not_shipped")


# ---------------------------------------------------------------- rolling backorder


async def test_rolling_backorder_longer_handling_time_sends_backorder_delayed(client: PlatformClient,
                                                                              stack: Stack) -> None:
    await accepted(client, "o-delay", {"l1": ("sku-bo5", [part("backorder", 1)])})
    await activate(client, "s1", "L1", "sku-bo5", 8)
    delayed = (await event(client, "o-delay", "BackorderDelayed")).payload
    assert delayed == {
        "order_id": "o-delay", "buyer_id": "buyer-1", "line_id": "l1", "sku_id": "sku-bo5",
        "previous_ship_by": "2026-12-01", "ship_by": "2026-12-04",
        "previous_estimated_delivery": "2026-12-08", "estimated_delivery": "2026-12-11",
        "reason": "handling_time_extended", "projected_on": None, "cancellable": True,
    }
    view = await get_json(f"{orders_url(stack)}/orders/o-delay")
    assert view["lines"][0]["ship_by"] == "2026-12-04"
    assert view["lines"][0]["due_at"].startswith("2026-12-05T05:00:00")


# ---------------------------------------------------------------- R19: seller queries


async def test_r13_seller_lists_backorders_by_tag_and_status_oldest_first(
        client: PlatformClient, stack: Stack, clock: ClockFile) -> None:
    for i, at in enumerate(["2026-11-23T15:00:00+00:00", "2026-11-23T16:00:00+00:00", "2026-11-23T17:00:00+00:00"]):
        clock.set(at)
        await accepted(client, f"o-r19-{i}", {"l1": ("sku-bo", [part("backorder", 1)])}, buyer_id=f"b-{i}")
    clock.set(T0)
    base = f"{orders_url(stack)}/sellers/s1/orders?tag=back_order&status=awaiting_shipment"
    listed, more = await get_page(base + "&limit=500")
    assert more is None
    ids = [row["order_id"] for row in listed]
    r19 = [i for i in ids if i.startswith("o-r19-")]
    assert r19 == ["o-r19-0", "o-r19-1", "o-r19-2"]
    assert ids.index("o-r13") < ids.index("o-r19-0")  # placed at T0, earlier
    assert "o-r16" not in ids and "o-auth" not in ids  # shipped; no backorder part
    assert [row["placed_at"] for row in listed] == sorted(row["placed_at"] for row in listed)
    row = listed[ids.index("o-r19-0")]
    assert row["late"] is False and row["next_ship_by"] == "2026-11-27"
    assert row["lines"][0]["ship_by"] == "2026-11-27" and row["lines"][0]["state"] == "awaiting_stock"

    page1, cursor = await get_page(base + "&limit=2")
    page2, _ = await get_page(base + f"&limit=2&cursor={cursor}")
    assert [r["order_id"] for r in page1 + page2] == ids[:4]
    bad = await get_json(f"{orders_url(stack)}/sellers/s1/orders?status=lost")
    assert bad["error"] == "bad_query" and "status must be one of" in bad["message"]


async def test_r13_each_seller_sees_its_own_lines_and_tag_in_a_mixed_order(client: PlatformClient,
                                                                               stack: Stack) -> None:
    await accepted(client, "o-mixed", {"l1": ("sku-bo", [part("backorder", 1)]),
                                       "l2": ("sku-s2", [part("regular", 1)])})
    s1 = await get_json(f"{orders_url(stack)}/sellers/s1/orders?tag=back_order")
    mixed = next(row for row in s1 if row["order_id"] == "o-mixed")
    assert (mixed["tags"], [line["line_id"] for line in mixed["lines"]]) == (["back_order"], ["l1"])
    assert await get_json(f"{orders_url(stack)}/sellers/s2/orders?tag=back_order") == []
    s2 = await get_json(f"{orders_url(stack)}/sellers/s2/orders?status=awaiting_shipment")
    mixed = next(row for row in s2 if row["order_id"] == "o-mixed")
    assert (mixed["tags"], [line["line_id"] for line in mixed["lines"]]) == ([], ["l2"])


# ---------------------------------------------------------------- idempotency, rejections, DLQ


async def test_commands_are_idempotent_by_event_id_and_by_order_id(client: PlatformClient) -> None:
    command_ = place("o-idem", [("l1", "sku-reg", 1)])
    envelope = client.envelope(command_, principal=buyer())
    raw = envelope.model_dump_json().encode()
    await client.send_raw("orders.commands", raw, key="o-idem")
    await client.send_raw("orders.commands", raw, key="o-idem")  # a redelivery: same event id
    await client.send(command_, principal=buyer())  # a client retry: new event id, same order
    different = await command(client, place("o-idem", [("l1", "sku-reg", 2)]), principal=buyer())
    assert (different.type, different.payload["reason"]) == ("CommandRejected", "duplicate_order")
    # same key, same partition: everything before the rejection has been handled
    assert len(client.matching(on_order("o-idem", "OrderPlaced"))) == 1


async def test_poison_messages_go_to_the_dead_letter_topics(client: PlatformClient) -> None:
    await client.send_raw("orders.commands", b"{not json", key="o-poison")
    await client.send_raw("orders.commands", client.envelope(o.ShipLines.model_construct(
        order_id="o-poison", line_ids=[], tracking_number="")).model_dump_json().encode(), key="o-poison")
    await publish(client, "inventory.events", inv.BackorderReleased(
        order_id="o-never", line_id="l1", sku_id="sku-bo", warehouse_id="wh-1", qty=1), key="o-never")
    letters = await client.wait_for(lambda m: m.topic.endswith(".dlq") and m.value.get("consumer") == "orders",
                                    count=3)
    by_reason = {(m.topic, m.value["reason"]) for m in letters}
    assert by_reason >= {("orders.commands.dlq", "not_json"), ("orders.commands.dlq", "invalid_payload"),
                         ("inventory.events.dlq", "unknown_order")}
    original = next(m for m in letters if m.value["reason"] == "not_json").value["original_b64"]
    assert base64.b64decode(original) == b"{not json"
    assert not client.matching(lambda m: m.topic == EVENTS and m.payload.get("order_id") in ("o-poison", "o-never"))
