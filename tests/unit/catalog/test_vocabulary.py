"""The catalog's listing types are the list its SQL CHECK accepts, no more and no fewer."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import services.catalog
from services.catalog import domain
from shared.contract.common import ListingType
from tests.unit.sql_checks import check_lists


def test_listing_types_are_the_skus_check() -> None:
    checks = check_lists(Path(services.catalog.__file__).parent / "migrations")
    assert get_args(ListingType) == checks["skus.listing_type"]
    assert {domain.REGULAR, domain.BACKORDER} < set(get_args(ListingType))
