"""Orders' string vocabularies are the lists its SQL CHECKs and the wire accept, no more and no fewer."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import services.orders
from services.orders import lines, statuses
from shared.contract import orders as wire
from shared.contract.common import StockSource
from tests.unit.sql_checks import check_lists

CHECKS = check_lists(Path(services.orders.__file__).parent / "migrations")


def test_order_statuses_are_the_orders_check_and_the_wires() -> None:
    assert statuses.ORDER_STATUSES == get_args(statuses.OrderStatus) == CHECKS["orders.status"]
    assert get_args(statuses.OrderStatus) == get_args(wire.OrderStatus)
    assert set(statuses.ORDER_TRANSITIONS) == set(statuses.ORDER_STATUSES)


def test_line_states_are_the_order_lines_check() -> None:
    assert get_args(lines.LineState) == CHECKS["order_lines.state"]
    assert set(lines.LINE_TRANSITIONS) == set(get_args(lines.LineState))


def test_replacement_outcomes_and_part_sources_are_their_checks() -> None:
    assert get_args(lines.ReplacementOutcome) == CHECKS["order_lines.replacement"]
    assert get_args(StockSource) == CHECKS["order_parts.source"]
