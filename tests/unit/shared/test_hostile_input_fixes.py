"""Hostile input the fault suite found, pinned by unit tests: control characters in the contract, a
record key that is not UTF-8, and the id of a replayed dead letter (no processes, no broker)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from aiokafka import ConsumerRecord
from pydantic import ValidationError

from shared.contract.catalog import UpsertListing
from shared.contract.envelope import Envelope, Principal, RawEnvelope
from shared.contract.orders import CancelLines, OrderLine, PlaceOrder
from shared.contract.topics import ORDERS_COMMANDS_TOPIC
from shared.messaging.decoding import (
    REPLAY_CONSUMER_HEADER,
    REPLAY_OFFSET_HEADER,
    Subscription,
    decode,
    record_key,
    replay_id,
)

#: our validator's message, or pydantic's own for a lone surrogate (not a Unicode string at all)
REFUSED = "control character|unable to parse raw data as a unicode string"


def record(value: bytes, key: bytes | None = b"o-1", headers: tuple[tuple[str, bytes], ...] = ()) -> Any:
    return ConsumerRecord("orders.commands", 0, 7, 0, 0, key, value, None, len(key or b""), len(value), headers)


def place_order() -> bytes:
    payload = PlaceOrder(order_id="o-1", buyer_id="b-1", buyer_email="b@example.com", region="US",
                         lines=[OrderLine(line_id="l1", sku_id="sku-1", qty=1)])
    return Envelope(type="PlaceOrder", producer="test", payload=payload).model_dump_json().encode()


@pytest.mark.parametrize("text", ["a\x00b", "\x1b[31m", "bell\x07", "\x7f", "\x85", "\ud800"])
def test_the_contract_refuses_control_characters_in_every_string(text: str) -> None:
    with pytest.raises(ValidationError, match=REFUSED):
        UpsertListing(seller_id="s-1", listing_id="l-1", category="home", title=text, sku_ids=["k-1"])
    with pytest.raises(ValidationError, match=REFUSED):
        CancelLines(order_id="o-1", line_ids=["l1"], reason=f"why{text}")
    with pytest.raises(ValidationError, match=REFUSED):
        Principal(kind="seller", id=f"s{text}")
    with pytest.raises(ValidationError, match=REFUSED):
        RawEnvelope(type=f"PlaceOrder{text}", producer="p", payload={})


def test_the_contract_keeps_line_breaks_tabs_and_any_script_in_free_text() -> None:
    text = "Grüße\taus Köln\n日本語 💥 'quotes'; DROP TABLE x; {{7*7}}"
    assert CancelLines(order_id="o-1", line_ids=["l1"], reason=text[:200]).reason == text[:200]


def test_a_nul_byte_or_invalid_utf8_in_a_record_key_becomes_text_postgresql_can_store() -> None:
    assert record_key(record(b"", key=b"o-\x00\xff")) == "o-\ufffd\ufffd"
    assert record_key(record(b"", key=None)) is None



def test_a_replayed_dead_letter_is_new_only_to_the_group_that_gave_up_on_it() -> None:
    value = place_order()
    subscription = Subscription(ORDERS_COMMANDS_TOPIC, handlers={"PlaceOrder": lambda *_: None})  # type: ignore[arg-type,return-value]
    event_id = str(decode(record(value), subscription).message_id)
    replay = ((REPLAY_CONSUMER_HEADER, b"orders"), (REPLAY_OFFSET_HEADER, b"0:12"))
    assert replay_id(decode(record(value, headers=replay), subscription), "orders").message_id == \
        f"{event_id}/replay/0:12"
    # another group that handled it before still knows it by its event id; a plain redelivery too
    assert replay_id(decode(record(value, headers=replay), subscription), "audit").message_id == event_id
    assert replay_id(decode(record(value), subscription), "orders").message_id == event_id
    uuid.UUID(event_id)
