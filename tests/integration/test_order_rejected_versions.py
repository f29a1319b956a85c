"""OrderRejected versions 1 and 2 (CHANGELOG.md, [Unreleased]): the notifications service reads both, each with
its effect once. Version 1 is what the 0.1.0 release's orders service sends (``reason`` a string); the decoder
upcasts it (shared/contract/upcasting.py). Each message is delivered twice, with the same event id.
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
from shared.contract import orders as o

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module", autouse=True)
def services(stack: Stack) -> Iterator[None]:
    stack.start_service("notifications")
    stack.wait_ready()
    yield


async def placed(client: PlatformClient, order_id: str, buyer_id: str, key: str) -> None:
    order = o.OrderPlaced(order_id=order_id, buyer_id=buyer_id, buyer_email=f"{buyer_id}@example.com",
                          region="US", placed_at=datetime(2026, 12, 6, 15, tzinfo=UTC),
                          lines=[o.OrderLine(line_id="l1", sku_id="sku-1", qty=1)])
    await client.send_raw("orders.events", client.envelope(order).model_dump_json().encode(), key=key)


def rejected(client: PlatformClient, order_id: str, buyer_id: str, version: int) -> bytes:
    """An OrderRejected as orders of version ``version`` sends it."""
    envelope: dict[str, Any] = orjson.loads(client.envelope(o.OrderRejected(
        order_id=order_id, buyer_id=buyer_id, line_ids=["l1"],
        reason=o.RejectionReason(code="out_of_stock", sku_ids=["sku-1"]))).model_dump_json())
    if version == 1:
        envelope["version"], envelope["payload"]["reason"] = 1, "out_of_stock"
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
