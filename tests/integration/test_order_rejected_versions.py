"""OrderRejected versions 1 and 2 (CHANGELOG.md, [Unreleased]): the notifications service reads both, each with
its effect once, and the orders service sends version 1 for this release, which release 0.1.0's consumers read.

Version 1 is what the 0.1.0 release's orders service sends and what this release's sends too (``reason`` a
string; shared/contract/upcasting.py, ``EMITTED``); the decoder upcasts it. Version 2 (``reason`` an object) is
what the next release's orders will send. Each message is delivered twice, with the same event id.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from devstack.client import PlatformClient
from devstack.smtp import read_mail
from devstack.stack import Stack
from shared.contract import inventory as inv
from shared.contract import orders as o
from shared.contract.envelope import Principal
from tests.unit.shared.test_message_versions import errors_against_last_release

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module", autouse=True)
def services(stack: Stack) -> Iterator[None]:
    stack.start_service("orders")
    stack.start_service("notifications")
    stack.wait_ready()
    yield


async def placed(client: PlatformClient, order_id: str, buyer_id: str, key: str) -> None:
    order = o.OrderPlaced(order_id=order_id, buyer_id=buyer_id, buyer_email=f"{buyer_id}@example.com",
                          region="US", placed_at=datetime(2026, 12, 6, 15, tzinfo=UTC),
                          lines=[o.OrderLine(line_id="l1", sku_id="sku-1", qty=1)])
    await client.send_raw("orders.events", client.envelope(order).model_dump_json().encode(), key=key)


#: the payload of each version, as it travels
REASONS: dict[int, Any] = {1: "out_of_stock", 2: {"code": "out_of_stock", "sku_ids": ["sku-1"]}}


def rejected(client: PlatformClient, order_id: str, buyer_id: str, version: int) -> bytes:
    """An OrderRejected in ``version``, as the orders service that sends it does."""
    envelope: dict[str, Any] = orjson.loads(client.envelope(o.OrderRejected(
        order_id=order_id, reason=o.RejectionReason(code="out_of_stock"))).model_dump_json())
    envelope.update(version=version, payload={
        "order_id": order_id, "buyer_id": buyer_id, "line_ids": ["l1"], "reason": REASONS[version]})
    return orjson.dumps(envelope)


@pytest.mark.parametrize("version", [1, 2])
async def test_r22_r26_order_rejected_version_is_told_once_in_app_and_email(client: PlatformClient, stack: Stack,
                                                                         version: int) -> None:
    run = uuid.uuid4().hex[:6]
    order_id, buyer_id, barrier = f"v{version}-order-{run}", f"v{version}-buyer-{run}", f"v{version}-barrier-{run}"
    await placed(client, order_id, buyer_id, key=order_id)
    message = rejected(client, order_id, buyer_id, version)
    assert orjson.loads(message)["version"] == version
    await client.send_raw("orders.events", message, key=order_id)
    await client.send_raw("orders.events", message, key=order_id)  # redelivered: the same event id
    await placed(client, barrier, buyer_id, key=order_id)  # later on the partition: told after both copies
    await client.send_raw("orders.events", rejected(client, barrier, buyer_id, version), key=order_id)
    await client.wait_for(lambda m: m.type == "NotificationSent" and m.payload["order_id"] == barrier, count=2)

    sent = client.matching(lambda m: m.type == "NotificationSent" and m.payload["order_id"] == order_id)
    assert sorted((s.payload["channel"], s.payload["kind"]) for s in sent) == [("app", "rejected"),
                                                                               ("email", "rejected")]
    assert "out of stock" in next(s for s in sent if s.payload["channel"] == "app").payload["message"]
    assert len([m for m in read_mail(stack.mail_dir) if order_id in str(m["Subject"])]) == 1
    assert not client.matching(lambda m: m.topic == "orders.events.dlq" and m.key == order_id)


async def test_r08_r22_orders_sends_order_rejected_as_version_1_which_release_0_1_0_reads(
        client: PlatformClient, stack: Stack) -> None:
    run = uuid.uuid4().hex[:6]
    order_id, buyer_id = f"sent-order-{run}", f"sent-buyer-{run}"
    await client.send(o.PlaceOrder(order_id=order_id, buyer_id=buyer_id, buyer_email=f"{buyer_id}@example.com",
                                   region="US", lines=[o.OrderLine(line_id="l1", sku_id=f"sku-{run}", qty=2),
                                                       o.OrderLine(line_id="l2", sku_id=f"sku-b-{run}", qty=1)]),
                      principal=Principal(kind="buyer", id=buyer_id))
    await client.wait_type("orders.events", "OrderPlaced", order_id=order_id)
    # inventory's answer, played here: one line out of stock
    answer = client.envelope(inv.AllocationRejected(order_id=order_id, reason="out_of_stock", line_ids=["l2"]))
    await client.send_raw("inventory.events", answer.model_dump_json().encode(), key=order_id)

    [sent] = await client.wait_type("orders.events", "OrderRejected", order_id=order_id)
    assert (sent.value["version"], sent.value["producer"], sent.payload) == (1, "orders", {
        "order_id": order_id, "buyer_id": buyer_id, "reason": "out_of_stock", "line_ids": ["l2"]})
    assert errors_against_last_release(sent.value) == []
    told = await client.wait_for(lambda m: m.type == "NotificationSent" and m.payload["order_id"] == order_id,
                                 count=2)
    assert sorted((s.payload["channel"], s.payload["kind"]) for s in told) == [("app", "rejected"),
                                                                               ("email", "rejected")]
    assert not client.matching(lambda m: m.topic.endswith(".dlq") and m.key == order_id)
