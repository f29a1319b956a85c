"""R03/R04 under concurrency, on the real database: the cap check and the write happen in one
transaction behind the seller's row lock, so no interleaving of concurrent activations can
exceed a cap. The same through Kafka with two catalog instances in one consumer group is
``test_catalog_rules.py::test_r03_concurrent_activations_on_two_instances_never_exceed_the_cap``.

Measured with ``FOR UPDATE`` removed from ``lock_seller``: both cases fail on every run (34 to
50 of the 50 activations accepted against a cap of 30).
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from services.catalog import handlers
from services.catalog.domain import Caps
from services.catalog.ports import CatalogPolicy
from services.catalog.unit_of_work import CatalogUnitOfWork
from shared.cause import Cause
from shared.clock import SystemClock
from shared.contract import catalog as c
from shared.contract.catalog import WarehouseQty
from shared.contract.envelope import Payload, Principal
from shared.domain import Rejection
from shared.persistence.db import create_pool

pytestmark = pytest.mark.integration

OPERATOR = Principal(kind="operator", id="ops-1")
CAP = 30
ATTEMPTS = 50


def activation(seller: str, sku: str) -> c.ActivateBackorder:
    return c.ActivateBackorder(seller_id=seller, sku_id=sku, handling_days=5,
                               backorder_stock=[WarehouseQty(warehouse_id="wh-1", qty=3)])


# ---------------------------------------------------------------- on the database, 25 connections


@pytest.mark.parametrize(("caps", "listings", "skus_per_listing", "reason"), [
    (Caps(max_listings=CAP, max_skus=10_000), ATTEMPTS, 1, "listing_cap_reached"),
    (Caps(max_listings=CAP, max_skus=CAP), 5, ATTEMPTS // 5, "sku_cap_reached"),
])
async def test_r03_r04_caps_hold_for_concurrent_transactions_on_the_real_database(
    fresh_db: Any, caps: Caps, listings: int, skus_per_listing: int, reason: str
) -> None:
    pool = await create_pool(await fresh_db("catalog"), min_size=2, max_size=25)
    policy = CatalogPolicy(caps=caps)

    async def run(command: Payload) -> str | None:
        """One command in its own transaction, as one consumer batch would; its rejection reason."""
        async with pool.acquire() as conn:
            transaction = conn.transaction()
            await transaction.start()
            uow = CatalogUnitOfWork(conn, policy, SystemClock())  # type: ignore[arg-type]
            try:
                with uow.caused_by(Cause(uuid.uuid4(), uuid.uuid4(), OPERATOR, command.message_type)):
                    await getattr(handlers, _handler_name(command))(command, uow)
            except Rejection as rejection:
                await transaction.rollback()
                return rejection.reason
            await transaction.commit()
            return None

    try:
        assert await run(c.RegisterSeller(seller_id="s1", region="US", backorder_eligible=True)) is None
        skus = []
        for i in range(listings):
            ids = [f"l{i}-s{j}" for j in range(skus_per_listing)]
            assert await run(c.UpsertListing(seller_id="s1", listing_id=f"l{i}", category="home", title="t",
                                             sku_ids=ids)) is None
            skus += ids

        results = await asyncio.gather(*(run(activation("s1", sku)) for sku in skus))

        assert results.count(None) == CAP
        assert set(results) == {None, reason}
        async with pool.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT count(DISTINCT listing_id) AS listings, count(*) AS skus FROM skus "
                "WHERE seller_id = 's1' AND listing_type = 'backorder'")
        assert row is not None
        assert row["listings"] <= caps.max_listings and row["skus"] == CAP
    finally:
        await pool.close()


def _handler_name(command: Payload) -> str:
    return {
        "RegisterSeller": "register_seller", "UpsertListing": "upsert_listing",
        "ActivateBackorder": "activate_backorder",
    }[command.message_type]
