"""A message at a new version goes out, for one release, in the version the last release's consumers read
(shared/contract/upcasting.py, ``EMITTED``): OrderRejected version 2 is sent as version 1, which release
0.1.0's notifications reads, and this release's consumers read it back through the upcaster."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import cache
from typing import Any

import orjson
import pytest
from jsonschema import Draft202012Validator

from devstack.contract_check import ROOT, releases
from shared.contract import orders as o
from shared.contract.envelope import Envelope
from shared.contract.topics import ALL_TOPICS
from shared.contract.upcasting import DOWN_STEPS, EMITTED, downcast, upcast
from shared.persistence.uow import Emitter

REJECTED = o.OrderRejected(order_id="o-1", buyer_id="b-1", line_ids=["l1", "l2"],
                           reason=o.RejectionReason(code="out_of_stock", sku_ids=["sku-1", "sku-2"]))


@cache
def _release_document(service: str) -> dict[str, Any]:
    release = releases((ROOT / "CHANGELOG.md").read_text())[0]
    return dict(json.loads((ROOT / "docs" / "asyncapi" / "releases" / release.version / f"{service}.json").read_text()))


def errors_against_last_release(message: dict[str, Any], service: str = "orders") -> list[str]:
    """What the last release's contract (its AsyncAPI document, payload models that forbid unknown fields) finds
    wrong with ``message``, an envelope as it travels: nothing when its consumers read it."""
    document = _release_document(service)
    schema = {"$ref": f"#/components/schemas/{message['type']}Envelope", "components": document["components"]}
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}"
            for e in Draft202012Validator(schema).iter_errors(message)]


def emitted(payload: o.OrderRejected) -> dict[str, Any]:
    """What a service's outbox holds for ``payload``: the bytes the relay publishes."""
    emitter = Emitter("orders")
    emitter.emit("orders.events", payload, key=payload.order_id)
    [record] = emitter.pending
    return dict(orjson.loads(record.value))


def test_order_rejected_goes_out_as_version_1_which_the_last_release_reads() -> None:
    message = emitted(REJECTED)
    assert (message["version"], message["payload"]) == (1, {
        "order_id": "o-1", "buyer_id": "b-1", "reason": "out_of_stock", "line_ids": ["l1", "l2"]})
    assert errors_against_last_release(message) == []


def test_order_rejected_read_back_by_this_release_has_its_code_and_no_skus() -> None:
    message = emitted(REJECTED)
    read = o.OrderRejected.model_validate(upcast("OrderRejected", message["version"], message["payload"],
                                                 o.OrderRejected.contract_version))
    assert read == o.OrderRejected(order_id="o-1", buyer_id="b-1", line_ids=["l1", "l2"],
                                   reason=o.RejectionReason(code="out_of_stock", sku_ids=[]))


def test_an_envelope_told_version_2_sends_version_2_which_the_last_release_refuses() -> None:
    message = orjson.loads(Envelope(type="OrderRejected", producer="orders", version=2,
                                    payload=REJECTED).model_dump_json())
    assert (message["version"], message["payload"]["reason"]) == (2, {"code": "out_of_stock",
                                                                      "sku_ids": ["sku-1", "sku-2"]})
    assert errors_against_last_release(message) == [
        "payload.reason: {'code': 'out_of_stock', 'sku_ids': ['sku-1', 'sku-2']} is not of type 'string'"]


def test_a_message_without_an_older_version_goes_out_in_its_own() -> None:
    placed = o.OrderPlaced(order_id="o-1", buyer_id="b-1", buyer_email="b-1@example.com", region="US",
                           placed_at=datetime(2026, 12, 6, 15, tzinfo=UTC),
                           lines=[o.OrderLine(line_id="l1", sku_id="sku-1", qty=1)])
    message = orjson.loads(Envelope(type="OrderPlaced", producer="orders", payload=placed).model_dump_json())
    assert (message["version"], message["payload"]) == (1, {
        "order_id": "o-1", "buyer_id": "b-1", "buyer_email": "b-1@example.com", "region": "US", "locale": "en_US",
        "timezone": None, "placed_at": "2026-12-06T15:00:00Z",
        "lines": [{"line_id": "l1", "sku_id": "sku-1", "qty": 1}]})


@pytest.mark.parametrize("message_type", sorted(EMITTED))
def test_every_version_sent_older_has_the_steps_down_to_it(message_type: str) -> None:
    [model] = {m for m in (t.payload_model(message_type) for t in ALL_TOPICS) if m is not None}
    assert EMITTED[message_type] < model.contract_version
    assert all((message_type, v) in DOWN_STEPS for v in range(EMITTED[message_type] + 1, model.contract_version + 1))


def test_a_step_down_that_does_not_exist_is_refused() -> None:
    with pytest.raises(ValueError, match="no step from version 2 of OrderPlaced down to 1"):
        downcast("OrderPlaced", 2, {"order_id": "o-1"}, 1)
