"""Subscriptions are keyed by payload class and checked when a service is built, not when a record comes."""

from __future__ import annotations

import types
from typing import Any

import pytest

from shared.contract import inventory as inv
from shared.contract import orders as o
from shared.contract.topics import INVENTORY_COMMANDS_TOPIC, ORDERS_EVENTS_TOPIC
from shared.messaging.decoding import Message, Subscription, WiringError, wired


async def set_stock(cmd: inv.SetStock, uow: Any) -> None: ...


async def receive_stock(cmd: inv.ReceiveStock, uow: Any) -> None: ...


async def placed(messages: list[Message[o.OrderPlaced]], uow: Any) -> None: ...


async def shipped_or_cancelled(event: o.LinesShipped | o.LinesCancelled, uow: Any) -> None: ...


def test_a_subscription_keyed_by_class_dispatches_by_the_type_name_a_record_carries() -> None:
    sub = Subscription(ORDERS_EVENTS_TOPIC, handlers={o.LinesShipped: shipped_or_cancelled,
                                                      o.LinesCancelled: shipped_or_cancelled},
                       batch_handlers={o.OrderPlaced: placed})
    assert sub.handlers == {"LinesShipped": shipped_or_cancelled, "LinesCancelled": shipped_or_cancelled}
    assert sub.batch_handlers == {"OrderPlaced": placed}
    assert [t for t in ("LinesShipped", "OrderPlaced", "OrderAccepted") if sub.handles(t)] == [
        "LinesShipped", "OrderPlaced"]


def test_a_key_the_topic_does_not_carry_fails_at_build() -> None:
    with pytest.raises(WiringError, match=r"inventory\.commands carries no message type <class .*OrderPlaced"):
        Subscription(INVENTORY_COMMANDS_TOPIC, handlers={o.OrderPlaced: set_stock})


def test_a_misspelled_type_name_fails_at_build_instead_of_being_skipped() -> None:
    with pytest.raises(WiringError, match="carries no message type 'SetStok'"):
        Subscription(INVENTORY_COMMANDS_TOPIC, handlers={"SetStok": set_stock})


def test_a_handler_written_for_another_type_fails_at_build() -> None:
    with pytest.raises(WiringError, match=r"test_subscriptions\.receive_stock takes .*ReceiveStock.*, not SetStock"):
        Subscription(INVENTORY_COMMANDS_TOPIC, handlers={inv.SetStock: receive_stock})
    with pytest.raises(WiringError, match=r"takes .*OrderPlaced.*, not LinesShipped"):
        Subscription(ORDERS_EVENTS_TOPIC, batch_handlers={o.LinesShipped: placed})


def test_a_handler_left_without_a_subscription_fails_at_build() -> None:
    module = types.ModuleType(__name__)
    module.set_stock, module.receive_stock = set_stock, receive_stock  # type: ignore[attr-defined]
    subscriptions = [Subscription(INVENTORY_COMMANDS_TOPIC, handlers={inv.SetStock: set_stock})]
    left_out = r"without a subscription: tests\.unit\.shared\.test_subscriptions\.receive_stock$"
    with pytest.raises(WiringError, match=left_out):
        wired(subscriptions, module)
    both = [Subscription(INVENTORY_COMMANDS_TOPIC,
                         handlers={inv.SetStock: set_stock, inv.ReceiveStock: receive_stock})]
    assert wired(both, module) is both
