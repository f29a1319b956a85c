"""Notifications through Kafka: this test plays the orders service on orders.events and reads what the buyer
gets: NotificationSent events, the app inbox (HTTP) and the emails the SMTP server received (R20-R22)."""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import Callable
from datetime import date
from email.message import EmailMessage
from typing import Any

import aiohttp
import pytest

from devstack.client import Observed, PlatformClient
from devstack.smtp import read_mail
from devstack.stack import Stack
from services.notifications.domain import notification_id
from shared.contract.envelope import Envelope, Payload, Principal
from shared.contract.notifications import MarkNotificationsRead
from tests.unit.notifications import factories as f

pytestmark = pytest.mark.integration

TOPIC = "notifications.events"


@pytest.fixture(scope="module", autouse=True)
def service(stack: Stack) -> None:
    stack.start_service("notifications")
    stack.wait_ready()


async def publish(client: PlatformClient, payload: Payload) -> Envelope[Any]:
    """What the orders service would publish."""
    envelope = client.envelope(payload)
    await client.send_raw("orders.events", envelope.model_dump_json().encode(), key=payload.order_id)  # type: ignore[attr-defined]
    return envelope


async def wait_sent(client: PlatformClient, order_id: str, kind: str,
                    channels: tuple[str, ...] = ("app", "email")) -> dict[str, Observed]:
    found = {}
    for channel in channels:
        (event,) = await client.wait_type(TOPIC, "NotificationSent", timeout=20, order_id=order_id, kind=kind,
                                          channel=channel)
        found[channel] = event
    return found


async def wait_mail(stack: Stack, predicate: Callable[[EmailMessage], bool], count: int = 1,
                    within_s: float = 20) -> list[EmailMessage]:
    deadline = time.monotonic() + within_s
    while True:
        found = [m for m in read_mail(stack.mail_dir) if predicate(m)]
        if len(found) >= count or time.monotonic() > deadline:
            assert len(found) == count, f"{len(found)} mails instead of {count}"
            return found
        await asyncio.sleep(0.05)


def mails_of(stack: Stack, order_id: str, kind: str | None = None) -> list[EmailMessage]:
    return [m for m in read_mail(stack.mail_dir)
            if m["X-Order-Id"] == order_id and (kind is None or m["X-Notification-Kind"] == kind)]


def text_of(mail: EmailMessage) -> str:
    return mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]


def html_of(mail: EmailMessage) -> str:
    return mail.get_body(("html",)).get_content()  # type: ignore[union-attr]


async def http_get(stack: Stack, path: str) -> tuple[int, Any, dict[str, str]]:
    url = stack.services[("notifications", 0)].url + path
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        body = await response.json() if response.content_type == "application/json" else await response.text()
        return response.status, body, dict(response.headers)


async def place_and_accept(client: PlatformClient, order_id: str, buyer_id: str, **placed: Any) -> None:
    await publish(client, f.placed(order_id, buyer_id, **placed))
    await publish(client, f.accepted(order_id, buyer_id))


# ---------------------------------------------------------------- R20


async def test_r20_backorder_acceptance_sends_app_and_email_with_dates(client: PlatformClient, stack: Stack) -> None:
    await place_and_accept(client, "o-r20", "buyer-r20")
    sent = await wait_sent(client, "o-r20", "backorder_accepted")
    email_id = notification_id("o-r20", ["l1"], "backorder_accepted", "1", "email")
    for channel, event in sent.items():
        assert event.payload["notification_id"] == notification_id("o-r20", ["l1"], "backorder_accepted", "1",
                                                                    channel)
        assert event.payload["buyer_id"] == "buyer-r20"
        assert (event.payload["ship_by"], event.payload["estimated_delivery"]) == ("2026-12-04", "2026-12-09")
        assert event.payload["line_ids"] == ["l1"] and "Friday, December 4, 2026" in event.payload["title"]
    # what a push gateway delivers
    assert "on back order" in sent["app"].payload["message"]
    assert "Wednesday, December 9, 2026" in sent["app"].payload["message"]

    (mail,) = await wait_mail(stack, lambda m: m["X-Order-Id"] == "o-r20")
    assert mail["Message-ID"] == f"<{email_id}@shop.example>"
    assert mail["To"] == f.email_of("buyer-r20")
    assert "on back order" in mail["Subject"].lower() and "Friday, December 4, 2026" in mail["Subject"]
    text = text_of(mail)
    assert "This item is on back order" in text and "2 of 3 on back order" in text
    assert "Ship by: Friday, December 4, 2026" in text
    assert "Estimated delivery: Wednesday, December 9, 2026" in text
    assert "Sunday, November 22, 2026 at 9:30 PM EST" in text  # placed 02:30 UTC on the 23rd, a New York buyer
    assert "sku-2" not in text  # the in-stock line is not this message's news
    html = html_of(mail)
    assert '<time datetime="2026-12-04">Friday, December 4, 2026</time>' in html
    assert '<time datetime="2026-12-09">Wednesday, December 9, 2026</time>' in html

    status, inbox, headers = await http_get(stack, "/buyers/buyer-r20/notifications?channel=app&unread=1")
    assert status == 200 and headers["X-Unread-Count"] == "1"
    (app,) = inbox
    assert (app["kind"], app["status"], app["read_at"]) == ("backorder_accepted", "sent", None)
    assert (app["ship_by"], app["estimated_delivery"]) == ("2026-12-04", "2026-12-09")
    status, detail, _ = await http_get(stack, f"/notifications/{app['notification_id']}")
    assert "Friday, December 4, 2026" in detail["body_text"]
    assert detail["data"]["items"][0]["ship_by"] == "2026-12-04"  # ISO in the data

    _, by_order, _ = await http_get(stack, "/orders/o-r20/notifications")
    assert sorted((n["channel"], n["status"], n["attempts"]) for n in by_order) == [
        ("app", "sent", 0), ("email", "sent", 1)]
    assert f.email_of("buyer-r20") not in json.dumps(by_order)  # operators never see the address


async def test_r20_dates_follow_the_buyers_locale_and_time_zone(client: PlatformClient, stack: Stack) -> None:
    await place_and_accept(client, "o-de", "buyer-de", locale="de_DE", timezone="Europe/Berlin", region="DE")
    await place_and_accept(client, "o-jp", "buyer-jp", locale="ja_JP", timezone=None, region="JP")
    (de,) = await wait_mail(stack, lambda m: m["X-Order-Id"] == "o-de")
    (jp,) = await wait_mail(stack, lambda m: m["X-Order-Id"] == "o-jp")
    assert "Ship by: Freitag, 4. Dezember 2026" in text_of(de)
    assert "Estimated delivery: Mittwoch, 9. Dezember 2026" in text_of(de)
    assert "Montag, 23. November 2026 um 03:30 CET" in text_of(de)
    assert '<time datetime="2026-12-04">Freitag, 4. Dezember 2026</time>' in html_of(de)
    assert "2026年12月4日(金)" in text_of(jp) and "2026年12月9日(水)" in text_of(jp)
    assert "2026年11月23日(月) 11:30 JST" in text_of(jp)  # the zone comes from the region


async def test_r20_acceptance_without_backorder_tells_nothing(client: PlatformClient, stack: Stack) -> None:
    await publish(client, f.placed("o-regular", "buyer-regular"))
    await publish(client, f.accepted("o-regular", "buyer-regular", backordered=False))
    # a later event of the same order (same partition) proves the acceptance was handled
    await publish(client, f.refund("o-regular", "buyer-regular"))
    await wait_sent(client, "o-regular", "refunded")
    assert client.matching(lambda o: o.topic == TOPIC and o.payload.get("order_id") == "o-regular"
                           and o.payload.get("kind") == "backorder_accepted") == []
    assert [m["X-Notification-Kind"] for m in mails_of(stack, "o-regular")] == ["refunded"]


# ---------------------------------------------------------------- R21


async def test_r21_buyer_is_told_of_release_delay_lateness_and_shipment(client: PlatformClient,
                                                                        stack: Stack) -> None:
    await place_and_accept(client, "o-life", "buyer-life")
    await wait_sent(client, "o-life", "backorder_accepted")

    await publish(client, f.delayed("o-life", "buyer-life"))
    await wait_sent(client, "o-life", "delayed")
    (mail,) = await wait_mail(stack, lambda m: m["X-Order-Id"] == "o-life" and m["X-Notification-Kind"] == "delayed")
    assert "Ship by: Friday, December 11, 2026 (was Friday, December 4, 2026)" in text_of(mail)
    assert "Estimated delivery: Wednesday, December 16, 2026 (was Wednesday, December 9, 2026)" in text_of(mail)

    await publish(client, f.late("o-life", "buyer-life", ship_by=date(2026, 12, 11), eta=date(2026, 12, 16)))
    sent = await wait_sent(client, "o-life", "late")
    assert sent["email"].payload["ship_by"] == "2026-12-11"
    (mail,) = await wait_mail(stack, lambda m: m["X-Order-Id"] == "o-life" and m["X-Notification-Kind"] == "late")
    assert "did not ship by Friday, December 11, 2026" in text_of(mail)
    assert "cancel" in text_of(mail) and "https://shop.example/orders/o-life" in text_of(mail)

    await publish(client, f.released("o-life", "buyer-life", ship_by=date(2026, 12, 14), eta=date(2026, 12, 17)))
    await wait_sent(client, "o-life", "backorder_released")
    (mail,) = await wait_mail(stack, lambda m: m["X-Order-Id"] == "o-life"
                              and m["X-Notification-Kind"] == "backorder_released")
    assert "Ship by: Monday, December 14, 2026" in text_of(mail)
    assert "Estimated delivery: Thursday, December 17, 2026" in text_of(mail)

    await publish(client, f.shipped("o-life", "buyer-life"))
    sent = await wait_sent(client, "o-life", "shipped")
    assert sent["app"].payload["estimated_delivery"] == "2026-12-17"  # the release's dates were kept
    (mail,) = await wait_mail(stack, lambda m: m["X-Order-Id"] == "o-life" and m["X-Notification-Kind"] == "shipped")
    assert "1Z999AA10123456784" in text_of(mail) and "Thursday, December 17, 2026" in text_of(mail)

    _, inbox, headers = await http_get(stack, "/buyers/buyer-life/notifications?channel=app")
    assert [n["kind"] for n in inbox] == ["shipped", "backorder_released", "late", "delayed", "backorder_accepted"]
    assert headers["X-Unread-Count"] == "5"


async def test_r21_buyer_is_told_of_cancellation_and_refund(client: PlatformClient, stack: Stack) -> None:
    await place_and_accept(client, "o-cancel", "buyer-cancel")
    await publish(client, f.cancelled("o-cancel", "buyer-cancel"))
    await publish(client, f.refund("o-cancel", "buyer-cancel"))
    await wait_sent(client, "o-cancel", "cancelled")
    await wait_sent(client, "o-cancel", "refunded")
    (cancel,) = await wait_mail(stack, lambda m: m["X-Order-Id"] == "o-cancel"
                                and m["X-Notification-Kind"] == "cancelled")
    assert "has been cancelled (buyer request)" in text_of(cancel)
    assert "Ship by: Friday, December 4, 2026" in text_of(cancel)
    (refund,) = await wait_mail(stack, lambda m: m["X-Order-Id"] == "o-cancel"
                                and m["X-Notification-Kind"] == "refunded")
    assert "refund" in text_of(refund) and "on back order" in text_of(refund)


async def test_r21_unknown_buyer_gets_the_app_message_and_the_email_is_reported_failed(
        client: PlatformClient, stack: Stack) -> None:
    await publish(client, f.accepted("o-nobody", "buyer-nobody"))  # no OrderPlaced was ever seen
    await wait_sent(client, "o-nobody", "backorder_accepted", channels=("app",))
    (failed,) = await client.wait_type(TOPIC, "NotificationFailed", order_id="o-nobody")
    assert failed.payload["channel"] == "email" and failed.payload["error"].startswith("buyer_contact_unknown")
    _, rows, _ = await http_get(stack, "/orders/o-nobody/notifications")
    assert sorted((n["channel"], n["status"]) for n in rows) == [("app", "sent"), ("email", "failed")]


# ---------------------------------------------------------------- R22


async def test_r22_redelivered_and_re_emitted_events_send_nothing_twice(client: PlatformClient,
                                                                         stack: Stack) -> None:
    placed = await publish(client, f.placed("o-twice", "buyer-twice"))
    accepted = await publish(client, f.accepted("o-twice", "buyer-twice"))
    await wait_sent(client, "o-twice", "backorder_accepted")
    # the same message again (a redelivery), and the same fact under a new event id (re-emitted)
    for envelope in (placed, accepted):
        await client.send_raw("orders.events", envelope.model_dump_json().encode(), key="o-twice")
    await publish(client, f.accepted("o-twice", "buyer-twice"))
    await publish(client, f.refund("o-twice", "buyer-twice"))  # a marker behind them on the partition
    await wait_sent(client, "o-twice", "refunded")
    await wait_mail(stack, lambda m: m["X-Order-Id"] == "o-twice" and m["X-Notification-Kind"] == "refunded")

    accepted_sent = client.matching(lambda o: o.topic == TOPIC and o.payload.get("order_id") == "o-twice"
                                    and o.payload.get("kind") == "backorder_accepted")
    assert sorted(o.payload["channel"] for o in accepted_sent) == ["app", "email"]
    assert len(mails_of(stack, "o-twice", "backorder_accepted")) == 1


# ---------------------------------------------------------------- R20: the app inbox, read and unread


def buyer(buyer_id: str) -> Principal:
    return Principal(kind="buyer", id=buyer_id)


async def inbox(stack: Stack, buyer_id: str) -> tuple[dict[str, str | None], int]:
    """The buyer's app messages (id: read_at) and the unread count the app shows."""
    _, rows, headers = await http_get(stack, f"/buyers/{buyer_id}/notifications?channel=app")
    return {r["notification_id"]: r["read_at"] for r in rows}, int(headers["X-Unread-Count"])


async def test_buyer_marks_app_messages_read_through_kafka(client: PlatformClient, stack: Stack) -> None:
    for order_id in ("o-read-1", "o-read-2", "o-read-3"):
        await place_and_accept(client, order_id, "buyer-read")
        await wait_sent(client, order_id, "backorder_accepted", channels=("app",))
    messages, unread = await inbox(stack, "buyer-read")
    assert len(messages) == 3 and unread == 3
    first, *others = sorted(messages)

    read_one = await client.send(MarkNotificationsRead(buyer_id="buyer-read", notification_ids=[first]),
                                 principal=buyer("buyer-read"))
    outcome = await client.wait_caused_by(read_one)
    assert (outcome.type, outcome.key) == ("NotificationsRead", "buyer-read")
    assert (outcome.payload["notification_ids"], outcome.payload["unread"]) == ([first], 2)
    messages, unread = await inbox(stack, "buyer-read")
    assert messages[first] is not None and [messages[o] for o in others] == [None, None] and unread == 2

    again = await client.send(MarkNotificationsRead(buyer_id="buyer-read", notification_ids=[first]),
                              principal=buyer("buyer-read"))
    read_all = await client.send(MarkNotificationsRead(buyer_id="buyer-read"), principal=buyer("buyer-read"))
    outcome = await client.wait_caused_by(read_all)  # behind the repeat on the buyer's partition
    assert sorted(outcome.payload["notification_ids"]) == others and outcome.payload["unread"] == 0
    assert client.caused_by(again) == []  # read already: a no-op that says nothing
    messages, unread = await inbox(stack, "buyer-read")
    assert all(read_at is not None for read_at in messages.values()) and unread == 0
    assert (await http_get(stack, "/buyers/buyer-read/notifications?channel=app&unread=1"))[1] == []


async def test_inbox_commands_for_another_buyers_or_unknown_messages_are_refused(
        client: PlatformClient, stack: Stack) -> None:
    await place_and_accept(client, "o-mine", "buyer-mine")
    await place_and_accept(client, "o-theirs", "buyer-theirs")
    await wait_sent(client, "o-mine", "backorder_accepted", channels=("app",))
    await wait_sent(client, "o-theirs", "backorder_accepted", channels=("app",))
    (theirs,), _ = await inbox(stack, "buyer-theirs")
    email_id = notification_id("o-mine", ["l1"], "backorder_accepted", "1", "email")
    (mine,), _ = await inbox(stack, "buyer-mine")

    refused = {
        "not_owner": (MarkNotificationsRead(buyer_id="buyer-theirs"), buyer("buyer-mine")),
        "forbidden": (MarkNotificationsRead(buyer_id="buyer-mine"), Principal(kind="seller", id="seller-1")),
        # all or nothing: one id that is not an app message of this buyer's refuses the others too
        "unknown_notification": (MarkNotificationsRead(
            buyer_id="buyer-mine", notification_ids=[uuid.UUID(mine), uuid.UUID(theirs), uuid.UUID(email_id)]),
            buyer("buyer-mine")),
    }
    outcomes = {}
    for reason, (command, principal) in refused.items():
        outcome = await client.wait_caused_by(await client.send(command, principal=principal))
        assert (outcome.type, outcome.payload["reason"]) == ("CommandRejected", reason), outcome.payload
        assert outcome.payload["command_type"] == "MarkNotificationsRead"
        outcomes[reason] = outcome.payload["message"]
    assert theirs in outcomes["unknown_notification"] and email_id in outcomes["unknown_notification"]
    assert mine not in outcomes["unknown_notification"]
    assert (await inbox(stack, "buyer-mine"))[1] == 1 and (await inbox(stack, "buyer-theirs"))[1] == 1

    bad = client.envelope(MarkNotificationsRead(buyer_id="buyer-mine")).model_dump(mode="json")
    bad["payload"]["notification_ids"] = ["not-a-uuid"]
    await client.send_raw("notifications.commands", json.dumps(bad).encode(), key="buyer-mine")
    (letter,) = await client.wait_for(lambda o: o.topic == "notifications.commands.dlq" and o.key == "buyer-mine")
    assert letter.value["reason"] == "invalid_payload" and "notification_ids" in letter.value["error"]
    assert (await inbox(stack, "buyer-mine"))[1] == 1


async def test_routes_reject_bad_queries(stack: Stack) -> None:
    channel = await http_get(stack, "/buyers/b/notifications?channel=sms")
    assert channel[:2] == (400, {"error": "bad_query", "message": "channel must be one of app, email"})
    assert (await http_get(stack, "/buyers/b/notifications?limit=0"))[:2] == (
        400, {"error": "bad_query", "message": "limit must be 1-1000"})
    assert (await http_get(stack, "/notifications/not-a-uuid"))[:2] == (
        404, {"error": "unknown_notification", "message": "no notification not-a-uuid"})
    missing = "00000000-0000-0000-0000-000000000000"
    assert (await http_get(stack, f"/notifications/{missing}"))[:2] == (
        404, {"error": "unknown_notification", "message": f"no notification {missing}"})
    assert (await http_get(stack, "/buyers/nobody/notifications"))[1] == []


# ---------------------------------------------------------------- privacy (runs last: reads the whole log)


async def test_privacy_no_email_address_in_the_service_log(stack: Stack) -> None:
    log = stack.services[("notifications", 0)].log.read_text(errors="replace")
    assert '"notification_sent"' in log and '"channel": "email"' in log  # the log covers the sends above
    assert "mail-provider.example" not in log
    assert re.findall(r"[\w.+-]+@[\w-]+\.[\w.-]+", log) == []
