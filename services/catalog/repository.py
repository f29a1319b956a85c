"""Catalog persistence: named queries from ``sql/`` and the one place rows become domain objects."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import asyncpg

from services.catalog.domain import BackorderUsage, Listing, Seller, Sku
from shared.persistence.db import fetch_all, load_queries

queries = load_queries(Path(__file__).parent / "sql")


def _seller(row: Any) -> Seller | None:
    return Seller(row["seller_id"], row["region"], row["timezone"], row["backorder_eligible"]) if row else None


def _sku(row: Any) -> Sku:
    return Sku(row["sku_id"], row["listing_id"], row["seller_id"], row["listing_type"], row["handling_days"])


class CatalogRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def seller(self, seller_id: str, *, lock: bool = False) -> Seller | None:
        query = queries.lock_seller if lock else queries.get_seller
        return _seller(await query(self.conn, seller_id=seller_id))

    async def save_seller(self, seller: Seller) -> None:
        await queries.upsert_seller(
            self.conn, seller_id=seller.seller_id, region=seller.region, timezone=seller.timezone,
            backorder_eligible=seller.backorder_eligible,
        )

    async def set_eligibility(self, seller_id: str, eligible: bool) -> None:
        await queries.set_eligibility(self.conn, seller_id=seller_id, backorder_eligible=eligible)

    async def listing(self, listing_id: str) -> Listing | None:
        row = await queries.get_listing(self.conn, listing_id=listing_id)
        return Listing(row["listing_id"], row["seller_id"], row["category"], row["title"]) if row else None

    async def save_listing(self, listing: Listing, sku_ids: list[str]) -> None:
        await queries.upsert_listing(
            self.conn, listing_id=listing.listing_id, seller_id=listing.seller_id,
            category=listing.category, title=listing.title,
        )
        for sku_id in sku_ids:
            await queries.insert_sku(self.conn, sku_id=sku_id, listing_id=listing.listing_id,
                                     seller_id=listing.seller_id)

    async def skus(self, sku_ids: list[str]) -> dict[str, Sku]:
        return {r["sku_id"]: _sku(r) for r in await fetch_all(queries.get_skus, self.conn, sku_ids=sku_ids)}

    async def sku(self, sku_id: str) -> Sku | None:
        row = await queries.get_sku(self.conn, sku_id=sku_id)
        return _sku(row) if row else None

    async def backorder_usage(self, seller_id: str, excluding_sku: str) -> BackorderUsage:
        row = await queries.backorder_usage(self.conn, seller_id=seller_id, sku_id=excluding_sku)
        return BackorderUsage(frozenset(row["listings"]), int(row["sku_count"]))

    async def set_backorder(self, sku_id: str, handling_days: int, stock: list[dict[str, Any]]) -> None:
        await queries.set_backorder(self.conn, sku_id=sku_id, handling_days=handling_days, backorder_stock=stock)

    async def set_listing_type(self, sku_id: str, listing_type: str) -> None:
        await queries.set_listing_type(self.conn, sku_id=sku_id, listing_type=listing_type)

    # read side (operator CLI)
    async def list_listings(self, seller_id: str, back_order_only: bool) -> list[dict[str, Any]]:
        rows = await fetch_all(queries.list_listings, self.conn, seller_id=seller_id, back_order_only=back_order_only)
        return [dict(r) for r in rows]

    async def sku_details(self, sku_id: str) -> dict[str, Any] | None:
        row = await queries.sku_details(self.conn, sku_id=sku_id)
        return dict(row) if row else None
