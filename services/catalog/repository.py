"""Catalog persistence: named queries from ``sql/`` and the one place rows become domain objects."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from services.catalog.domain import BackorderUsage, Listing, Seller, Sku, WarehouseStock
from shared.persistence.db import Conn, fetch_all, load_queries

queries = load_queries(Path(__file__).parent / "sql")

def _seller(row: Any) -> Seller | None:
    if row is None:
        return None
    return Seller(row["seller_id"], row["region"], row["timezone"], row["backorder_eligible"],
                  row["backorder_revoked_at"], row["email"])


def _sku(row: Any) -> Sku:
    return Sku(
        sku_id=row["sku_id"], listing_id=row["listing_id"], seller_id=row["seller_id"],
        listing_type=row["listing_type"], handling_days=row["handling_days"],
        backorder_stock=tuple(WarehouseStock(w["warehouse_id"], int(w["qty"])) for w in row["backorder_stock"]),
        delisted=row["delisted_at"] is not None,
    )


class CatalogRepository:
    """``ports.CatalogStore`` on one asyncpg connection (inside the unit of work's transaction)."""

    def __init__(self, conn: Conn) -> None:
        self.conn = conn

    async def seller(self, seller_id: str, *, lock: bool = False) -> Seller | None:
        query = queries.lock_seller if lock else queries.get_seller
        return _seller(await query(self.conn, seller_id=seller_id))

    async def save_seller(self, seller: Seller) -> None:
        await queries.upsert_seller(
            self.conn, seller_id=seller.seller_id, region=seller.region, timezone=seller.timezone,
            backorder_eligible=seller.backorder_eligible, backorder_revoked_at=seller.revoked_at, email=seller.email,
        )

    async def listing(self, listing_id: str) -> Listing | None:
        row = await queries.get_listing(self.conn, listing_id=listing_id)
        return Listing(row["listing_id"], row["seller_id"], row["category"], row["title"]) if row else None

    async def save_listing(self, listing: Listing) -> None:
        await queries.upsert_listing(self.conn, listing_id=listing.listing_id, seller_id=listing.seller_id,
                                     category=listing.category, title=listing.title)

    async def listed_skus(self, listing_id: str) -> list[Sku]:
        return [_sku(r) for r in await fetch_all(queries.listed_skus, self.conn, listing_id=listing_id)]

    async def sku(self, sku_id: str) -> Sku | None:
        row = await queries.get_sku(self.conn, sku_id=sku_id)
        return _sku(row) if row else None

    async def skus(self, sku_ids: Sequence[str]) -> dict[str, Sku]:
        rows = await fetch_all(queries.get_skus, self.conn, sku_ids=list(sku_ids))
        return {r["sku_id"]: _sku(r) for r in rows}

    async def claim_skus(self, seller_id: str, listing_id: str, sku_ids: Sequence[str]) -> set[str]:
        rows = await fetch_all(queries.claim_skus, self.conn, seller_id=seller_id, listing_id=listing_id,
                               sku_ids=list(sku_ids))
        return {r["sku_id"] for r in rows}

    async def delist_skus(self, sku_ids: Sequence[str]) -> None:
        if sku_ids:
            await queries.delist_skus(self.conn, sku_ids=list(sku_ids))

    async def backorder_usage(self, seller_id: str) -> BackorderUsage:
        row = await queries.backorder_usage(self.conn, seller_id=seller_id)
        return BackorderUsage(int(row["listings"]), int(row["skus"]))

    async def listing_on_backorder(self, listing_id: str) -> bool:
        return bool(await queries.listing_on_backorder(self.conn, listing_id=listing_id))

    async def set_backorder(self, sku_id: str, handling_days: int, stock: Sequence[WarehouseStock]) -> None:
        await queries.set_backorder(
            self.conn, sku_id=sku_id, handling_days=handling_days,
            backorder_stock=[{"warehouse_id": w.warehouse_id, "qty": w.qty} for w in stock],
        )

    async def set_listing_type(self, sku_id: str, listing_type: str) -> None:
        if listing_type == "backorder":
            raise ValueError("use set_backorder to put a SKU on backorder")
        await queries.set_listing_type(self.conn, sku_id=sku_id, listing_type=listing_type)


class CatalogQueries:
    """The read side behind the HTTP routes the operator CLI calls."""

    def __init__(self, conn: Conn) -> None:
        self.conn = conn

    async def listings(self, seller_id: str, *, back_order_only: bool) -> list[dict[str, Any]]:
        rows = await fetch_all(queries.list_listings, self.conn, seller_id=seller_id, back_order_only=back_order_only)
        return [{**dict(r), "label": "Back order" if r["back_order"] else None} for r in rows]

    async def sku(self, sku_id: str) -> dict[str, Any] | None:
        row = await queries.sku_details(self.conn, sku_id=sku_id)
        return dict(row) if row else None
