"""Every bad input is classified with a stable reason before any handler sees it."""

from __future__ import annotations

import orjson
import pytest
from aiokafka import ConsumerRecord

from shared.contract.catalog import RegisterSeller
from shared.contract.envelope import Envelope
from shared.contract.topics import CATALOG_COMMANDS_TOPIC
from shared.messaging.decoding import Subscription, decode

SUB = Subscription(CATALOG_COMMANDS_TOPIC, handlers={"RegisterSeller": lambda *_: None})  # type: ignore[arg-type,return-value]


def record(value: bytes | None, offset: int = 0) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord("catalog.commands", 0, offset, 0, 0, b"k", value, None, 1, len(value or b""), ())


def valid() -> dict[str, object]:
    env = Envelope(type="RegisterSeller", producer="t",
                   payload=RegisterSeller(seller_id="s1", region="US", backorder_eligible=True))
    return orjson.loads(env.model_dump_json())


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"not json{", "not_json"),
        (b"[1, 2]", "invalid_envelope"),
        (b'{"type": "RegisterSeller"}', "invalid_envelope"),
        (orjson.dumps({**valid(), "type": "DropTables"}), "unknown_type"),
        (orjson.dumps({**valid(), "payload": {"seller_id": "s1"}}), "invalid_payload"),
        (orjson.dumps({**valid(), "payload": {"seller_id": "s1", "region": "USA", "backorder_eligible": True}}),
         "invalid_payload"),
        (orjson.dumps({**valid(), "payload": {**valid()["payload"], "extra": 1}}), "invalid_payload"),  # type: ignore[dict-item]
    ],
)
def test_bad_input_is_dead_lettered_with_a_stable_reason(value: bytes, reason: str) -> None:
    inbound = decode(record(value), SUB)
    assert inbound.message is None
    assert inbound.dead_letter is not None and inbound.dead_letter[0] == reason


def test_valid_command_decodes_to_its_typed_payload() -> None:
    message = valid()
    inbound = decode(record(orjson.dumps(message)), SUB)
    assert inbound.dead_letter is None and inbound.message is not None
    assert isinstance(inbound.message.payload, RegisterSeller)
    assert inbound.message_id == message["event_id"]


def test_undecodable_record_is_identified_by_its_position() -> None:
    inbound = decode(record(b"\xff\xfe", offset=42), SUB)
    assert inbound.message_id == "catalog.commands/0/42"


def test_an_order_placed_without_a_time_zone_is_dead_lettered() -> None:
    from datetime import datetime

    from shared.contract.orders import OrderLine, OrderPlaced
    from shared.contract.topics import ORDERS_EVENTS_TOPIC

    order = OrderPlaced(order_id="o-1", buyer_id="b-1", buyer_email="b@example.com", region="US",
                        placed_at=datetime(2026, 11, 23, 9, 0).astimezone(), lines=[
                            OrderLine(line_id="l1", sku_id="k", qty=1)])
    value = orjson.loads(Envelope(type="OrderPlaced", producer="t", payload=order).model_dump_json())
    value["payload"]["placed_at"] = "2026-11-23T09:00:00"
    subscription = Subscription(ORDERS_EVENTS_TOPIC, handlers={"OrderPlaced": lambda *_: None})  # type: ignore[arg-type,return-value]
    inbound = decode(ConsumerRecord("orders.events", 0, 0, 0, 0, b"o-1", orjson.dumps(value), None, 1, 1, ()),
                     subscription)
    assert inbound.dead_letter is not None and inbound.dead_letter[0] == "invalid_payload"
    assert "timezone" in inbound.dead_letter[1]


def test_another_services_event_is_skipped_unread_not_dead_lettered() -> None:
    """An event topic is read by several groups, each for some of its types: a type this group does not
    handle is neither validated (a broken one is the handling group's to dead-letter) nor claimed."""
    from shared.contract.topics import ORDERS_EVENTS_TOPIC

    subscription = Subscription(ORDERS_EVENTS_TOPIC, handlers={"OrderPlaced": lambda *_: None})  # type: ignore[arg-type,return-value]
    broken = {**valid(), "type": "OrderAccepted", "payload": {"order_id": 1}}
    skipped = decode(ConsumerRecord("orders.events", 0, 0, 0, 0, b"o-1", orjson.dumps(broken), None, 1, 1, ()),
                     subscription)
    assert skipped.message is None and skipped.dead_letter is None
    unknown = decode(ConsumerRecord("orders.events", 0, 1, 0, 0, b"o-1",
                                    orjson.dumps({**broken, "type": "DropTables"}), None, 1, 1, ()), subscription)
    assert unknown.dead_letter is not None and unknown.dead_letter[0] == "unknown_type"
