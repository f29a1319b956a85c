"""R32 through the notifications handlers on in-memory fakes: a seller's stock alerts (low stock counted on
in stock plus backorder, backorder stock run out) and uncovered backorders (R29) reach the seller in the app
and by email, once (R22), with their own templates."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from email import message_from_bytes, policy

from services.notifications import handlers
from services.notifications.domain import OutgoingEmail
from services.notifications.message import MessageBuilder
from services.notifications.settings import NotificationsSettings
from shared.contract import catalog as cat
from shared.contract import inventory as inv
from shared.contract import orders as o
from tests.unit.notifications.fakes import FakeNotifications, FakeUow, cause

SELLER, EMAIL = "seller-1", "seller-1.private@mail-provider.example"


def registered(email: str | None = EMAIL) -> cat.SellerRegistered:
    return cat.SellerRegistered(seller_id=SELLER, region="US", timezone="America/New_York", backorder_eligible=True,
                                email=email)


def low(sku: str = "sku-1") -> inv.LowStock:
    return inv.LowStock(sku_id=sku, seller_id=SELLER, available_to_promise=1, backorder=2, total_available=3,
                        threshold=5)


def exhausted(sku: str = "sku-1") -> inv.BackorderStockExhausted:
    return inv.BackorderStockExhausted(sku_id=sku, seller_id=SELLER, available_to_promise=0, backorder_allocated=4)


def uncovered(ship_by: date = date(2026, 12, 4)) -> o.BackorderUncovered:
    return o.BackorderUncovered(order_id="o-1", buyer_id="buyer-1", line_id="l1", sku_id="sku-1", seller_id=SELLER,
                                warehouse_id="wh-1", ship_by=ship_by)


async def handle(store: FakeNotifications, handler: object, event: object, event_id: uuid.UUID) -> FakeUow:
    """The handler in a transaction of its own, as the runtime calls it for the message ``event_id``."""
    uow = FakeUow(store)
    with uow.caused_by(cause(event_id)):
        await handler(event, uow)  # type: ignore[operator]
    return uow


async def seller_store(email: str | None = EMAIL) -> FakeNotifications:
    store = FakeNotifications()
    await handle(store, handlers.seller_registered, registered(email), uuid.uuid4())
    return store


async def test_r32_seller_gets_app_and_email_alert_once() -> None:
    store = await seller_store()
    alert = uuid.uuid4()

    first = await handle(store, handlers.low_stock, low(), alert)
    again = await handle(store, handlers.low_stock, low(), alert)  # redelivered, or replayed by a new group

    rows = store.of_seller(SELLER)
    assert sorted((r["channel"], r["status"], r["kind"], r["sku_id"], r["buyer_id"]) for r in rows) == [
        ("app", "sent", "low_stock", "sku-1", None), ("email", "pending", "low_stock", "sku-1", None)]
    (sent,) = first.of_type("NotificationSent")
    assert (sent.channel, sent.seller_id, sent.sku_id, sent.buyer_id, sent.order_id) == ("app", SELLER, "sku-1",
                                                                                           None, None)
    assert first.emitted[0].key == SELLER
    assert "3 units left to sell (1 in stock, 2 on back order)" in sent.message
    assert again.emitted == [] and again.notifications.wakes == 1  # told once: nothing new, no second email

    await handle(store, handlers.low_stock, low(), uuid.uuid4())  # the next crossing is a new alert
    assert len(store.of_seller(SELLER)) == 4


async def test_r32_alert_when_backorder_stock_runs_out_reaches_seller_once() -> None:
    store = await seller_store()
    alert = uuid.uuid4()

    first = await handle(store, handlers.backorder_stock_exhausted, exhausted(), alert)
    again = await handle(store, handlers.backorder_stock_exhausted, exhausted(), alert)

    (sent,) = first.of_type("NotificationSent")
    assert (sent.kind, sent.seller_id, sent.sku_id) == ("backorder_exhausted", SELLER, "sku-1")
    assert "no backorder units left" in sent.message
    assert again.emitted == []
    email = next(r for r in store.of_seller(SELLER) if r["channel"] == "email")
    assert "has no backorder stock left to sell" in email["body_text"]
    assert "4" in email["body_text"]  # the backordered units still waiting


async def test_r32_uncovered_part_reaches_seller() -> None:
    store = await seller_store()

    told = await handle(store, handlers.backorder_uncovered, uncovered(), uuid.uuid4())
    # the same fact emitted again under a new event id (orders replaying a projection): told once
    again = await handle(store, handlers.backorder_uncovered, uncovered(), uuid.uuid4())
    later = await handle(store, handlers.backorder_uncovered, uncovered(date(2026, 12, 11)), uuid.uuid4())

    (sent,) = told.of_type("NotificationSent")
    assert (sent.kind, sent.seller_id, sent.buyer_id, sent.order_id, sent.line_ids) == (
        "backorder_uncovered", SELLER, None, "o-1", ["l1"])
    assert "wh-1" in sent.message
    assert again.emitted == []
    assert len(later.of_type("NotificationSent")) == 1  # uncovered again, with another ship-by: news
    assert {r["buyer_id"] for r in store.rows.values()} == {None}  # the buyer hears nothing of it


async def test_r32_seller_without_email_gets_the_app_alert_and_a_failed_email() -> None:
    store = await seller_store(email=None)

    uow = await handle(store, handlers.low_stock, low(), uuid.uuid4())

    assert [e.channel for e in uow.of_type("NotificationSent")] == ["app"]
    (failed,) = uow.of_type("NotificationFailed")
    assert (failed.seller_id, failed.error.split(":")[0]) == (SELLER, "seller_contact_unknown")
    assert uow.notifications.wakes == 0


def test_seller_alert_email_threads_per_sku_and_names_no_order() -> None:
    email = OutgoingEmail(
        notification_id=str(uuid.uuid4()), order_id=None, buyer_id=None, kind="low_stock", line_ids=(),
        locale="en_US", recipient=EMAIL, subject="Low stock", body_text="text", body_html=None, ship_by=None,
        estimated_delivery=None, attempts=1, caused_by=None, correlation_id=None,
        created_at=datetime(2026, 12, 1, tzinfo=UTC), seller_id=SELLER, sku_id="sku-1")

    wire = MessageBuilder(NotificationsSettings()).wire(email).message
    assert isinstance(wire, bytes)
    message = message_from_bytes(wire, policy=policy.default)

    assert message["To"] == EMAIL
    assert message["References"] == f"<sku.sku-1.{SELLER}@{NotificationsSettings().mail_domain}>"
    assert message["X-Order-Id"] is None
