"""Every bad input is classified with a stable reason before any handler sees it."""

from __future__ import annotations

import orjson
import pytest
from aiokafka import ConsumerRecord

from shared.contract.catalog import RegisterSeller
from shared.contract.envelope import Envelope
from shared.contract.topics import CATALOG_COMMANDS_TOPIC
from shared.messaging.consumer import Subscription, decode

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
