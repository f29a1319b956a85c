"""The whole backorder flow, thin but real: four services as processes, Kafka and PostgreSQL only.

A seller is registered and eligible, a SKU gets backorder (5 business days, backorder stock in
one warehouse), regular stock is 1, two orders of one unit are placed: the first is filled from
regular stock, the second from backorder; orders tags it back_order, awaiting_shipment, with
ship-by and delivery dates; the buyer gets an app message and an email with those dates; a
restock releases it and it ships.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devstack.client import PlatformClient
from devstack.scenario import Scenario
from devstack.stack import Stack

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module", autouse=True)
def platform(stack: Stack) -> Iterator[Stack]:
    stack.start_all()
    yield stack


async def test_r07_r11_r13_r14_r16_r20_r24_backorder_happy_path_end_to_end(stack: Stack,
                                                                           client: PlatformClient) -> None:
    scenario = Scenario(client, stack.mail_dir, inventory_url=stack.services[("inventory", 0)].url)
    result = await scenario.run()
    assert result.ok, result.failure
    ids = result.ids

    accepted = {o.payload["order_id"]: o.payload for o in client.matching(lambda o: o.type == "OrderAccepted")}
    regular, backordered = accepted[ids["order_regular"]], accepted[ids["order_backorder"]]
    # R07: regular stock first, backorder only once it is exhausted
    assert [p["source"] for p in regular["lines"][0]["parts"]] == ["regular"]
    assert [p["source"] for p in backordered["lines"][0]["parts"]] == ["backorder"]
    # R13: tagged and awaiting shipment
    assert backordered["status"] == "awaiting_shipment" and "back_order" in backordered["tags"]
    assert "back_order" not in regular["tags"]
    # R14: a ship-by and a later delivery date on the backordered part
    part = backordered["lines"][0]["parts"][0]
    assert part["ship_by"] < part["estimated_delivery"]
    # R24: the promise quoted before the order said so, with the very dates it was accepted with
    assert scenario.quote is not None and scenario.quote["label"] == "on_back_order"
    assert (scenario.quote["ship_by"], scenario.quote["estimated_delivery"]) == (part["ship_by"],
                                                                                  part["estimated_delivery"])

    # R20: the app message and the email both carry those dates
    sent = client.matching(lambda o: o.type == "NotificationSent" and o.payload["order_id"] == ids["order_backorder"]
                           and o.payload["kind"] == "backorder_accepted")
    assert sorted(o.payload["channel"] for o in sent) == ["app", "email"]
    assert all((o.payload["ship_by"], o.payload["estimated_delivery"]) == (part["ship_by"], part["estimated_delivery"])
               for o in sent)
    assert result.email is not None
    text = result.email.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert "back order" in text.lower()
    assert _long_date(part["ship_by"]) in text and _long_date(part["estimated_delivery"]) in text

    # R11, R16: the restock released it, and it shipped in full
    shipped = client.matching(lambda o: o.type == "LinesShipped" and o.payload["order_id"] == ids["order_backorder"])
    assert shipped and shipped[-1].payload["status"] == "shipped"


def _long_date(iso: str) -> str:
    """How the en_US email writes a date, e.g. 'December 1, 2026'."""
    from datetime import date

    d = date.fromisoformat(iso)
    return f"{d.strftime('%B')} {d.day}, {d.year}"


def test_every_service_reports_itself_ready_with_the_broker_answering(stack: Stack) -> None:
    import json
    import urllib.request

    for service in stack.services.values():
        with urllib.request.urlopen(f"{service.url}/readyz", timeout=5) as response:
            body = json.load(response)
        assert (body["ready"], body["database"], body["consumers_joined"], body["kafka"]) == (True, True, True, True), \
            (service.name, body)
