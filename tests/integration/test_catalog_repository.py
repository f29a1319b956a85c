"""The in-memory ``FakeCatalogStore`` the unit tests (and the model-based test) rely on behaves
like the PostgreSQL ``CatalogRepository``: one script of port calls, run against both, must
give the same answers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from services.catalog.domain import Listing, Seller, WarehouseStock
from services.catalog.ports import CatalogStore
from services.catalog.repository import CatalogRepository
from tests.integration.store_contract import run_on_postgres
from tests.unit.catalog.fakes import FakeCatalogStore

pytestmark = pytest.mark.integration

REVOKED = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)


async def script(store: CatalogStore) -> list[Any]:
    seen: list[Any] = []
    await store.save_seller(Seller("s1", "US", "America/New_York", True))
    await store.save_seller(Seller("s2", "GB", "Europe/London", False, REVOKED))
    seen += [await store.seller("s1"), await store.seller("s2", lock=True), await store.seller("nobody")]

    await store.save_listing(Listing("l1", "s1", "home", "Lamp"))
    await store.save_listing(Listing("l2", "s1", "fashion", "Shirt"))
    await store.save_listing(Listing("l9", "s2", "home", "Mug"))
    seen.append(await store.claim_skus("s1", "l1", ["a", "b", "c"]))
    seen.append(await store.claim_skus("s2", "l9", ["z", "a"]))  # a is s1's: not claimed
    seen.append(await store.claim_skus("s1", "l2", ["d", "b"]))  # b is listed in l1: not claimed
    seen.append(await store.listing("l2"))

    await store.set_backorder("a", 5, [WarehouseStock("wh-1", 3), WarehouseStock("wh-2", 0)])
    await store.set_backorder("d", 21, [WarehouseStock("wh-1", 1)])
    await store.set_listing_type("c", "pre_order")
    seen += [await store.backorder_usage("s1"), await store.listing_on_backorder("l1"),
             await store.listing_on_backorder("l9")]

    await store.delist_skus(["a", "c"])
    seen += [await store.listed_skus("l1"), await store.sku("a"), await store.backorder_usage("s1")]
    seen.append(await store.claim_skus("s1", "l2", ["d", "a"]))  # a delisted: listed again, in l2
    await store.set_backorder("a", 7, [WarehouseStock("wh-3", 9)])
    await store.set_listing_type("d", "regular")
    seen += [await store.skus(["a", "b", "c", "d", "missing"]), await store.backorder_usage("s1"),
             await store.listed_skus("l2"), await store.seller("s2")]
    await store.save_seller(Seller("s2", "GB", "Europe/London", True))
    seen.append(await store.seller("s2"))
    return seen


async def test_fake_store_matches_the_postgres_repository(fresh_db: Any) -> None:
    real = await run_on_postgres(await fresh_db("catalog"), lambda conn: script(CatalogRepository(conn)))
    fake = await script(FakeCatalogStore())
    for step, (expected, got) in enumerate(zip(real, fake, strict=True)):
        assert got == expected, f"step {step}"
