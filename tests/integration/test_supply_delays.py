"""R29 through Kafka on the whole platform: a late, smaller or cancelled inbound (R28) re-dates the
waiting lines it no longer serves in time, the buyer gets one delay alert per slip (app and email,
with the new dates and the option to cancel), and an uncovered line is flagged for the seller.

Catalog, inventory, orders and notifications run as processes; the test plays the seller and the
buyer with commands and waits for the events they cause. Every service reads the time from one clock file
that stands still at Monday 2026-11-23 10:00 New York, so a backorder of 5 business days promises to ship
by Tuesday 2026-12-01 (Thanksgiving skipped) and every date below is pinned to the day.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest

from devstack.client import Observed, PlatformClient
from devstack.smtp import read_mail
from devstack.stack import Stack
from shared.contract.catalog import (
    ActivateBackorder,
    RegisterSeller,
    SetAutoCancelPolicy,
    UpsertListing,
    WarehouseQty,
)
from shared.contract.envelope import Principal
from shared.contract.inventory import (
    AnnounceInbound,
    BackorderProjected,
    CancelInbound,
    ChangeInbound,
    ProjectedPart,
)
from shared.contract.orders import CancelLines, OrderLine, PlaceOrder
from tests.integration.test_orders_support import get_json

pytestmark = pytest.mark.integration

TODAY = date(2026, 11, 23)
PROMISED = date(2026, 12, 1)  # 5 business days after TODAY


@pytest.fixture(scope="module", autouse=True)
def platform(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    clock = tmp_path_factory.mktemp("clock") / "now"
    clock.write_text("2026-11-23T15:00:00+00:00")
    stack.service_env_extra["CLOCK"] = f"file:{clock}"
    stack.start_all()
    yield stack


class Seller:
    """A seller with one SKU on backorder (5 business days, 50 units in wh-1) and its buyers' orders."""

    def __init__(self, client: PlatformClient) -> None:
        run = uuid.uuid4().hex[:8]
        self.client, self.seller, self.sku = client, f"seller-{run}", f"sku-{run}"

    async def start(self, policy: SetAutoCancelPolicy | None = None) -> Seller:
        await self.client.send(RegisterSeller(seller_id=self.seller, region="US", backorder_eligible=True))
        if policy is not None:  # same key as what follows on catalog.events: orders knows it before the SKU
            await self.client.send(policy.model_copy(update={"seller_id": self.seller}))
        await self.client.send(UpsertListing(seller_id=self.seller, listing_id=f"l-{self.sku}", category="home",
                                             title="Walnut desk lamp", sku_ids=[self.sku]))
        await self.client.send(ActivateBackorder(seller_id=self.seller, sku_id=self.sku, handling_days=5,
                                                 backorder_stock=[WarehouseQty(warehouse_id="wh-1", qty=50)]))
        await self.client.wait_type("inventory.events", "StockChanged", sku_id=self.sku, backorder_limit=50)
        return self

    async def order(self, qty: int = 1) -> tuple[str, dict[str, Any]]:
        """A backordered order of ``qty`` units; its id and its line's backorder part as accepted."""
        order_id, buyer = f"order-{uuid.uuid4().hex[:10]}", f"buyer-{uuid.uuid4().hex[:8]}"
        await self.client.send(PlaceOrder(order_id=order_id, buyer_id=buyer, buyer_email=f"{buyer}@example.com",
                                          region="US", lines=[OrderLine(line_id="line-1", sku_id=self.sku, qty=qty)]))
        accepted = await self.client.wait_type("orders.events", "OrderAccepted", order_id=order_id)
        part = accepted[0].payload["lines"][0]["parts"][0]
        assert (part["source"], part["ship_by"]) == ("backorder", PROMISED.isoformat())
        # inventory allocated in the transaction that projected it; the notification of acceptance goes first
        await self.client.wait_type("notifications.events", "NotificationSent", order_id=order_id,
                                    kind="backorder_accepted", channel="email")
        return order_id, part

    async def announce(self, inbound_id: str, qty: int, day: date) -> None:
        await self.client.send(AnnounceInbound(inbound_id=inbound_id, sku_id=self.sku, warehouse_id="wh-1", qty=qty,
                                               expected_on=day))

    async def delays(self, order_id: str, count: int = 1) -> list[Observed]:
        return await self.client.wait_type("orders.events", "BackorderDelayed", order_id=order_id, count=count)

    def sent(self, order_id: str, kind: str) -> list[Observed]:
        return self.client.matching(lambda o: o.type == "NotificationSent" and o.payload["order_id"] == order_id
                                    and o.payload["kind"] == kind)


async def test_r29_a_late_inbound_re_dates_the_line_and_the_buyer_is_told_once_per_slip(
        client: PlatformClient, stack: Stack) -> None:
    seller = await Seller(client).start()
    order_id, part = await seller.order()
    ship_by = date.fromisoformat(part["ship_by"])
    po = f"po-{uuid.uuid4().hex[:8]}"
    await seller.announce(po, 5, ship_by - timedelta(days=1))  # in time: nothing to tell
    await client.wait_type("inventory.events", "BackorderProjected", sku_id=seller.sku)

    late = ship_by + timedelta(days=14)
    await client.send(ChangeInbound(inbound_id=po, sku_id=seller.sku, expected_on=late))

    (delay,) = await seller.delays(order_id)  # one: the projection in time before it moved nothing
    assert delay.payload["reason"] == "inbound_late" and delay.payload["cancellable"] is True
    assert delay.payload["previous_ship_by"] == part["ship_by"]
    assert delay.payload["projected_on"] == late.isoformat()
    assert late == date(2026, 12, 15)  # a Tuesday: it ships that day, no handling time added again
    assert (delay.payload["ship_by"], delay.payload["estimated_delivery"]) == ("2026-12-15", "2026-12-22")
    # stored: the line's dates and its SLA deadline (midnight ending 12-15 in New York) moved with it
    line = (await get_json(f"{stack.services[('orders', 0)].url}/orders/{order_id}"))["lines"][0]
    assert (line["ship_by"], line["estimated_delivery"], line["due_at"], line["late"]) == (
        "2026-12-15", "2026-12-22", "2026-12-16T05:00:00+00:00", False)
    sent = await client.wait_type("notifications.events", "NotificationSent", order_id=order_id, kind="delayed",
                                  count=2)
    assert sorted(o.payload["channel"] for o in sent) == ["app", "email"]
    assert all(o.payload["ship_by"] == delay.payload["ship_by"] for o in sent)
    (email,) = [m for m in read_mail(stack.mail_dir) if order_id in str(m.get("Subject", ""))
                and "Delay" in str(m.get("Subject", ""))]
    text = email.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert "arrives later than planned" in text and "cancel the item" in text

    # the same projection again (a repeat): the line is dated already, nobody is told twice
    projected = client.matching(lambda o: o.type == "BackorderProjected" and o.payload["sku_id"] == seller.sku)[-1]
    again = client.envelope(_payload(projected))
    await client.send_raw("inventory.events", again.model_dump_json().encode(), key=seller.sku)
    # a second slip is a new alert
    later = late + timedelta(days=7)
    await client.send(ChangeInbound(inbound_id=po, sku_id=seller.sku, expected_on=later))
    delays = await seller.delays(order_id, count=2)
    assert [d.payload["projected_on"] for d in delays] == [late.isoformat(), later.isoformat()]
    await client.wait_type("notifications.events", "NotificationSent", order_id=order_id, kind="delayed", count=4)
    assert len(seller.sent(order_id, "delayed")) == 4  # two slips, each on app and email, once
    assert not client.matching(lambda o: o.type == "LinesCancelled" and o.payload["order_id"] == order_id)  # R30 off


async def test_r29_a_line_no_inbound_covers_is_flagged_for_the_seller_not_re_dated(client: PlatformClient) -> None:
    seller = await Seller(client).start()
    order_id, part = await seller.order(2)
    po = f"po-{uuid.uuid4().hex[:8]}"
    await seller.announce(po, 2, TODAY + timedelta(days=1))
    await client.wait_type("inventory.events", "BackorderProjected", sku_id=seller.sku)

    await client.send(CancelInbound(inbound_id=po, sku_id=seller.sku))

    (flag,) = await client.wait_type("orders.events", "BackorderUncovered", order_id=order_id)
    assert (flag.payload["seller_id"], flag.payload["ship_by"]) == (seller.seller, part["ship_by"])
    assert not client.matching(lambda o: o.type == "BackorderDelayed" and o.payload["order_id"] == order_id)


async def test_r29_a_smaller_inbound_leaves_the_line_to_a_later_one_and_re_dates_it_to_that_day(
        client: PlatformClient) -> None:
    seller = await Seller(client).start()
    order_id, _ = await seller.order(2)
    first, second = f"po-{uuid.uuid4().hex[:8]}", f"po-{uuid.uuid4().hex[:8]}"
    await seller.announce(first, 2, date(2026, 11, 30))  # both units in time
    await seller.announce(second, 5, date(2026, 12, 15))
    await client.wait_type("inventory.events", "BackorderProjected", sku_id=seller.sku)

    await client.send(ChangeInbound(inbound_id=first, sku_id=seller.sku, qty=1))  # the second unit: the later one

    (delay,) = await seller.delays(order_id)
    assert (delay.payload["previous_ship_by"], delay.payload["ship_by"], delay.payload["estimated_delivery"],
            delay.payload["projected_on"]) == ("2026-12-01", "2026-12-15", "2026-12-22", "2026-12-15")
    assert not client.matching(lambda o: o.type == "BackorderUncovered" and o.payload["order_id"] == order_id)


def _payload(observed: Observed) -> Any:
    return BackorderProjected.model_validate(observed.payload)


@pytest.fixture(scope="module")
async def marker_order(client: PlatformClient) -> str:
    """An order that waits for stock no inbound covers (a seller without an auto-cancel policy): a projection
    naming it is answered with BackorderUncovered every time, so it marks a point in a consumer's partition."""
    order_id, _ = await (await Seller(client).start()).order()
    return order_id


async def projections_settled(client: PlatformClient, sku_id: str, marker_order: str) -> None:
    """Wait until orders has handled every projection of ``sku_id`` sent so far: a marker projection on the same
    key (so the same partition, after them) comes back through the same consumer as the flag it causes."""
    marker = client.envelope(BackorderProjected(sku_id=sku_id, parts=[ProjectedPart(
        order_id=marker_order, line_id="line-1", part_no=0, warehouse_id="wh-1", qty=1, projected_on=None,
        inbound_id=None)]))
    await client.send_raw("inventory.events", marker.model_dump_json().encode(), key=sku_id)
    flag = await client.wait_caused_by(marker)
    assert (flag.type, flag.payload["order_id"]) == ("BackorderUncovered", marker_order)


async def commands_settled(client: PlatformClient, order_id: str, principal: Principal) -> None:
    """Wait until orders has handled every command on ``order_id`` sent so far: a cancel of a line the order does
    not have is refused, and the refusal comes back through the same consumer, after them."""
    marker = await client.send(CancelLines(order_id=order_id, line_ids=["no-such-line"]), principal=principal)
    refused = await client.wait_caused_by(marker)
    assert (refused.type, refused.payload["reason"]) == ("CommandRejected", "unknown_line")


def count(client: PlatformClient, message_type: str, order_id: str) -> int:
    return len(client.matching(lambda o: o.type == message_type and o.payload.get("order_id") == order_id))


async def test_r30_a_cancelled_paid_line_requests_one_refund_and_only_that_email_promises_it(
        client: PlatformClient, stack: Stack) -> None:
    seller = await Seller(client).start()
    order_id, _ = await seller.order()

    buyer = Principal(kind="buyer", id=_buyer_of(client, order_id))
    await client.send(CancelLines(order_id=order_id, line_ids=["line-1"]), principal=buyer)
    await client.send(CancelLines(order_id=order_id, line_ids=["line-1"], reason="seller_request"),
                      principal=Principal(kind="seller", id=seller.seller))  # cancelled already: no second refund
    await commands_settled(client, order_id, buyer)

    assert count(client, "RefundRequested", order_id) == 1
    (refund,) = client.matching(lambda o: o.type == "RefundRequested" and o.payload["order_id"] == order_id)
    assert (refund.payload["reason"], refund.payload["detail"]) == ("line_cancelled", "buyer_request")
    await client.wait_type("notifications.events", "NotificationSent", order_id=order_id, kind="refunded",
                           channel="email")
    await client.wait_type("notifications.events", "NotificationSent", order_id=order_id, kind="cancelled",
                           channel="email")
    mails = {str(m["X-Notification-Kind"]): m.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
             for m in read_mail(stack.mail_dir) if m["X-Order-Id"] == order_id}
    assert "refunded" in mails["refunded"] and "will not pay" not in mails["cancelled"]


def _buyer_of(client: PlatformClient, order_id: str) -> str:
    placed = client.matching(lambda o: o.type == "OrderAccepted" and o.payload["order_id"] == order_id)
    return str(placed[0].payload["buyer_id"])


@pytest.mark.parametrize("days", [0, -1, 91])
async def test_r30_a_nonsensical_auto_cancel_policy_is_refused(client: PlatformClient, days: int) -> None:
    seller = await Seller(client).start()
    envelope = await client.send(SetAutoCancelPolicy(seller_id=seller.seller, max_days_late=days),
                                 principal=Principal(kind="seller", id=seller.seller))
    refused = await client.wait_caused_by(envelope)
    assert (refused.type, refused.payload["reason"]) == ("CommandRejected", "invalid_auto_cancel_policy")


async def test_r30_the_policy_cancels_a_line_late_by_more_than_its_days_from_the_first_promise(
        client: PlatformClient, marker_order: str) -> None:
    """Three slips with ``max_days_late=10`` and no second-slip rule: 3 days late and exactly 10 days late re-date
    the line; 13 days late (3 after the previous ship-by) cancels it and requests one refund."""
    seller = await Seller(client).start(SetAutoCancelPolicy(seller_id="x", max_days_late=10))
    order_id, _ = await seller.order()
    po = f"po-{uuid.uuid4().hex[:8]}"
    await seller.announce(po, 1, date(2026, 12, 4))  # 3 days late: re-dated, told
    (delay,) = await seller.delays(order_id)
    assert (delay.payload["reason"], delay.payload["ship_by"]) == ("inbound_late", "2026-12-04")

    await client.send(ChangeInbound(inbound_id=po, sku_id=seller.sku, expected_on=date(2026, 12, 11)))
    second = (await seller.delays(order_id, count=2))[1]  # 10 days late is not more than 10; a second slip
    assert second.payload["ship_by"] == "2026-12-11"

    await client.send(ChangeInbound(inbound_id=po, sku_id=seller.sku, expected_on=date(2026, 12, 12)))
    (cancelled,) = await client.wait_type("orders.events", "LinesCancelled", order_id=order_id)
    assert (cancelled.payload["reason"], cancelled.payload["status"]) == ("auto_cancel_policy", "cancelled")
    await projections_settled(client, seller.sku, marker_order)
    assert (count(client, "RefundRequested", order_id), count(client, "BackorderDelayed", order_id)) == (1, 2)
    (refund,) = client.matching(lambda o: o.type == "RefundRequested" and o.payload["order_id"] == order_id)
    assert (refund.payload["reason"], refund.payload["detail"]) == ("line_cancelled", "auto_cancel_policy")


async def test_r28_r29_r30_supply_chain_end_to_end(client: PlatformClient, stack: Stack, marker_order: str) -> None:
    """catalog -> inventory (an inbound announced, then delayed) -> orders (re-dated) -> notifications (the delay
    email, once) -> the auto-cancel at the second slip -> the refund request and its email."""
    seller = await Seller(client).start(SetAutoCancelPolicy(seller_id="x", cancel_at_second_slip=True))
    order_id, part = await seller.order()
    ship_by = date.fromisoformat(part["ship_by"])
    po = f"po-{uuid.uuid4().hex[:8]}"
    await seller.announce(po, 1, ship_by)  # on time
    projected = await client.wait_type("inventory.events", "BackorderProjected", sku_id=seller.sku)
    assert projected[0].payload["parts"][0]["projected_on"] == ship_by.isoformat()

    await client.send(ChangeInbound(inbound_id=po, sku_id=seller.sku, expected_on=ship_by + timedelta(days=7)))
    (delay,) = await seller.delays(order_id)
    assert delay.payload["previous_ship_by"] == part["ship_by"] and delay.payload["ship_by"] > part["ship_by"]
    await client.wait_type("notifications.events", "NotificationSent", order_id=order_id, kind="delayed",
                           channel="email")

    await client.send(ChangeInbound(inbound_id=po, sku_id=seller.sku, expected_on=ship_by + timedelta(days=9)))
    (cancelled,) = await client.wait_type("orders.events", "LinesCancelled", order_id=order_id)
    assert cancelled.payload["reason"] == "auto_cancel_policy"
    await projections_settled(client, seller.sku, marker_order)
    assert (count(client, "RefundRequested", order_id), count(client, "BackorderDelayed", order_id)) == (1, 1)
    (refund,) = client.matching(lambda o: o.type == "RefundRequested" and o.payload["order_id"] == order_id)
    assert refund.payload["reason"] == "line_cancelled"
    await client.wait_type("notifications.events", "NotificationSent", order_id=order_id, kind="refunded",
                           channel="email")
    # inventory gave the cancelled units back: nothing of the order waits any more
    await client.wait_for(lambda o: o.type == "StockChanged" and o.payload["sku_id"] == seller.sku
                          and o.payload["backorder_allocated"] == 0 and o.offset > projected[0].offset)
    kinds = sorted(str(m["X-Notification-Kind"]) for m in read_mail(stack.mail_dir) if m["X-Order-Id"] == order_id)
    assert kinds == ["backorder_accepted", "cancelled", "delayed", "refunded"]  # the delay told once
