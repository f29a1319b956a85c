"""R29 through Kafka on the whole platform: a late, smaller or cancelled inbound (R28) re-dates the
waiting lines it no longer serves in time, the buyer gets one delay alert per slip (app and email,
with the new dates and the option to cancel), and an uncovered line is flagged for the seller.

Catalog, inventory, orders and notifications run as processes; the test plays the seller and the
buyer with commands and waits for the events they cause.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
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
from shared.contract.inventory import AnnounceInbound, CancelInbound, ChangeInbound
from shared.contract.orders import CancelLines, OrderLine, PlaceOrder

pytestmark = pytest.mark.integration

TODAY = datetime.now(UTC).date()


@pytest.fixture(scope="module", autouse=True)
def platform(stack: Stack) -> Iterator[Stack]:
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
        assert part["source"] == "backorder"
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
    assert date.fromisoformat(delay.payload["ship_by"]) >= late
    assert delay.payload["estimated_delivery"] > delay.payload["ship_by"]
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


def _payload(observed: Observed) -> Any:
    from shared.contract.inventory import BackorderProjected

    return BackorderProjected.model_validate(observed.payload)


async def test_r30_a_cancelled_paid_line_requests_one_refund_and_only_that_email_promises_it(
        client: PlatformClient, stack: Stack) -> None:
    seller = await Seller(client).start()
    order_id, _ = await seller.order()

    await client.send(CancelLines(order_id=order_id, line_ids=["line-1"]),
                      principal=Principal(kind="buyer", id=_buyer_of(client, order_id)))
    await client.send(CancelLines(order_id=order_id, line_ids=["line-1"], reason="seller_request"),
                      principal=Principal(kind="seller", id=seller.seller))  # cancelled already: no second refund

    (refund,) = await client.wait_type("orders.events", "RefundRequested", order_id=order_id)
    assert (refund.payload["reason"], refund.payload["detail"]) == ("line_cancelled", "buyer_request")
    await client.wait_type("notifications.events", "NotificationSent", order_id=order_id, kind="refunded",
                           channel="email")
    await client.wait_type("notifications.events", "NotificationSent", order_id=order_id, kind="cancelled",
                           channel="email")
    mails = {str(m["X-Notification-Kind"]): m.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
             for m in read_mail(stack.mail_dir) if m["X-Order-Id"] == order_id}
    assert "refunded" in mails["refunded"] and "will not pay" not in mails["cancelled"]
    assert len(client.matching(lambda o: o.type == "RefundRequested" and o.payload["order_id"] == order_id)) == 1


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


async def test_r30_the_policy_cancels_a_line_late_by_more_than_its_days_and_requests_its_refund(
        client: PlatformClient) -> None:
    seller = await Seller(client).start(SetAutoCancelPolicy(seller_id="x", max_days_late=10))
    order_id, part = await seller.order()
    ship_by = date.fromisoformat(part["ship_by"])
    po = f"po-{uuid.uuid4().hex[:8]}"
    await seller.announce(po, 1, ship_by + timedelta(days=3))  # 3 days late: re-dated, told

    (delay,) = await seller.delays(order_id)
    await client.send(ChangeInbound(inbound_id=po, sku_id=seller.sku, expected_on=ship_by + timedelta(days=14)))

    (cancelled,) = await client.wait_type("orders.events", "LinesCancelled", order_id=order_id)
    assert cancelled.payload["reason"] == "auto_cancel_policy"
    (refund,) = await client.wait_type("orders.events", "RefundRequested", order_id=order_id)
    assert (refund.payload["reason"], refund.payload["detail"]) == ("line_cancelled", "auto_cancel_policy")
    assert delay.payload["reason"] == "inbound_late"
    assert len(client.matching(lambda o: o.type == "BackorderDelayed" and o.payload["order_id"] == order_id)) == 1


async def test_r28_r29_r30_supply_chain_end_to_end(client: PlatformClient, stack: Stack) -> None:
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
    (refund,) = await client.wait_type("orders.events", "RefundRequested", order_id=order_id)
    assert refund.payload["reason"] == "line_cancelled"
    await client.wait_type("notifications.events", "NotificationSent", order_id=order_id, kind="refunded",
                           channel="email")
    # inventory gave the cancelled units back: nothing of the order waits any more
    await client.wait_for(lambda o: o.type == "StockChanged" and o.payload["sku_id"] == seller.sku
                          and o.payload["backorder_allocated"] == 0 and o.offset > projected[0].offset)
    kinds = sorted(str(m["X-Notification-Kind"]) for m in read_mail(stack.mail_dir) if m["X-Order-Id"] == order_id)
    assert kinds == ["backorder_accepted", "cancelled", "delayed", "refunded"]  # the delay told once
