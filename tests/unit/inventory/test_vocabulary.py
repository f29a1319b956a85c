"""Inventory's string vocabularies are the lists its SQL CHECKs accept, no more and no fewer."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import services.inventory
from services.inventory import domain
from tests.unit.sql_checks import check_lists

CHECKS = check_lists(Path(services.inventory.__file__).parent / "migrations")


def test_every_ledger_kind_is_one_the_ledger_table_accepts() -> None:
    assert get_args(domain.LedgerKind) == CHECKS["stock_ledger.kind"]
    assert len(CHECKS["stock_ledger.kind"]) == 11


def test_part_states_and_sources_are_the_allocation_parts_checks() -> None:
    assert get_args(domain.PartState) == CHECKS["allocation_parts.state"]
    assert get_args(domain.Source) == CHECKS["allocation_parts.source"] == ("regular", "backorder")
    assert set(domain.HELD_STATES) < set(get_args(domain.PartState))
