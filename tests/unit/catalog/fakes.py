"""In-memory implementations of the catalog's ports, and a runner that behaves like the consumer
runtime for one message: a ``Rejection`` rolls the state back and becomes ``CommandRejected``."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from services.catalog import handlers
from services.catalog.domain import BACKORDER, BackorderUsage, Listing, Seller, Sku, WarehouseStock
from services.catalog.ports import CatalogPolicy
from shared.cause import Cause
from shared.contract import catalog as c
from shared.contract.envelope import Payload, Principal
from shared.contract.rejections import CommandRejected
from shared.contract.topics import Topic
from shared.domain import Rejection

HANDLERS: dict[type[Payload], Callable[[Any, Any], Coroutine[Any, Any, None]]] = {
    c.RegisterSeller: handlers.register_seller,
    c.SetSellerEligibility: handlers.set_seller_eligibility,
    c.UpsertListing: handlers.upsert_listing,
    c.ActivateBackorder: handlers.activate_backorder,
    c.DeactivateBackorder: handlers.deactivate_backorder,
    c.SetListingType: handlers.set_listing_type,
}

OPERATOR = Principal(kind="operator", id="ops-1")


def run_sync(coro: Coroutine[Any, Any, Any]) -> Any:
    """Drive a coroutine that never really suspends (the fakes do no I/O)."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    coro.close()
    raise RuntimeError("the coroutine suspended; a fake did I/O")


class FakeCatalogStore:
    """``ports.CatalogStore`` in dictionaries, with the same semantics as ``sql/catalog.sql``."""

    def __init__(self) -> None:
        self.sellers: dict[str, Seller] = {}
        self.listings: dict[str, Listing] = {}
        self.skus_by_id: dict[str, Sku] = {}
        self.locked: list[str] = []

    async def seller(self, seller_id: str, *, lock: bool = False) -> Seller | None:
        if lock:
            self.locked.append(seller_id)
        return self.sellers.get(seller_id)

    async def save_seller(self, seller: Seller) -> None:
        self.sellers[seller.seller_id] = seller

    async def listing(self, listing_id: str) -> Listing | None:
        return self.listings.get(listing_id)

    async def save_listing(self, listing: Listing) -> None:
        self.listings[listing.listing_id] = listing

    async def listed_skus(self, listing_id: str) -> list[Sku]:
        return sorted((s for s in self.skus_by_id.values() if s.listing_id == listing_id and not s.delisted),
                      key=lambda s: s.sku_id)

    async def sku(self, sku_id: str) -> Sku | None:
        return self.skus_by_id.get(sku_id)

    async def skus(self, sku_ids: Sequence[str]) -> dict[str, Sku]:
        return {i: self.skus_by_id[i] for i in sku_ids if i in self.skus_by_id}

    async def claim_skus(self, seller_id: str, listing_id: str, sku_ids: Sequence[str]) -> set[str]:
        claimed = set()
        for sku_id in sku_ids:
            sku = self.skus_by_id.get(sku_id)
            if sku is None:
                self.skus_by_id[sku_id] = Sku(sku_id, listing_id, seller_id)
            elif sku.seller_id == seller_id and (sku.listing_id == listing_id or sku.delisted):
                self.skus_by_id[sku_id] = replace(sku, listing_id=listing_id, delisted=False)
            else:
                continue
            claimed.add(sku_id)
        return claimed

    async def delist_skus(self, sku_ids: Sequence[str]) -> None:
        for sku_id in sku_ids:
            sku = self.skus_by_id[sku_id]
            self.skus_by_id[sku_id] = replace(sku, listing_type="regular", handling_days=None, backorder_stock=(),
                                              delisted=True)

    async def backorder_usage(self, seller_id: str) -> BackorderUsage:
        on = [s for s in self.skus_by_id.values() if s.seller_id == seller_id and s.listing_type == BACKORDER]
        return BackorderUsage(len({s.listing_id for s in on}), len(on))

    async def listing_on_backorder(self, listing_id: str) -> bool:
        return any(s.listing_id == listing_id and s.listing_type == BACKORDER for s in self.skus_by_id.values())

    async def set_backorder(self, sku_id: str, handling_days: int, stock: Sequence[WarehouseStock]) -> None:
        sku = self.skus_by_id[sku_id]
        self.skus_by_id[sku_id] = replace(sku, listing_type=BACKORDER, handling_days=handling_days,
                                          backorder_stock=tuple(stock))

    async def set_listing_type(self, sku_id: str, listing_type: str) -> None:
        assert listing_type != BACKORDER
        sku = self.skus_by_id[sku_id]
        self.skus_by_id[sku_id] = replace(sku, listing_type=listing_type, handling_days=None, backorder_stock=())

    def snapshot(self) -> tuple[dict[str, Seller], dict[str, Listing], dict[str, Sku]]:
        return dict(self.sellers), dict(self.listings), dict(self.skus_by_id)

    def restore(self, state: tuple[dict[str, Seller], dict[str, Listing], dict[str, Sku]]) -> None:
        sellers, listings, skus = state
        self.sellers, self.listings, self.skus_by_id = dict(sellers), dict(listings), dict(skus)


@dataclass
class Emitted:
    topic: str
    key: str | None
    payload: Payload


@dataclass
class FakeUow:
    """``ports.CatalogUow`` over ``FakeCatalogStore``."""

    policy: CatalogPolicy = field(default_factory=CatalogPolicy)
    catalog: FakeCatalogStore = field(default_factory=FakeCatalogStore)
    clock: datetime = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    emitted: list[Emitted] = field(default_factory=list)
    current: Cause | None = None

    @property
    def cause(self) -> Cause | None:
        return self.current

    def now(self) -> datetime:
        return self.clock

    def emit(self, topic: Topic | str, payload: Payload, *, key: str | None) -> Any:
        self.emitted.append(Emitted(topic.name if isinstance(topic, Topic) else topic, key, payload))

    # ---------------------------------------------------------------- the runtime's part

    def handle(self, command: Payload, principal: Principal | None = OPERATOR) -> list[Payload]:
        """Run one command like the consumer runtime does; return what it emitted."""
        state = self.catalog.snapshot()
        mark = len(self.emitted)
        self.current = Cause(uuid.uuid4(), uuid.uuid4(), principal, command.message_type)
        try:
            run_sync(HANDLERS[type(command)](command, self))
        except Rejection as rejection:
            self.catalog.restore(state)
            del self.emitted[mark:]
            self.emitted.append(Emitted("catalog.events", None, CommandRejected(
                command_id=str(self.current.event_id), command_type=command.message_type,
                reason=rejection.reason, message=rejection.message)))
        finally:
            self.current = None
        return [e.payload for e in self.emitted[mark:]]


def seller_principal(seller_id: str) -> Principal:
    return Principal(kind="seller", id=seller_id)


def rejection_reason(events: list[Payload]) -> str | None:
    """The reason if the command was rejected (then it is the only event), else None."""
    rejected = [e for e in events if isinstance(e, CommandRejected)]
    if rejected:
        assert len(events) == 1, events
        return rejected[0].reason
    return None
