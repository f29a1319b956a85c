"""In-memory fakes of the notifications ports (``services.notifications.ports``: ``NotificationsStore`` and
``NotificationsUow``), for driving the handlers with nothing running.

The store keeps buyers, sellers, lines and notification rows as the PostgreSQL repository does: a row whose
id was stored before is skipped (R22), which is what ``add_all`` reports.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from services.notifications.domain import Buyer, LineState, Seller
from services.notifications.rendering import Renderer
from shared.cause import Cause
from shared.contract.envelope import Payload
from shared.contract.topics import Topic


class FakeNotifications:
    def __init__(self) -> None:
        self.buyer_of: dict[str, Buyer] = {}
        self.sellers: dict[str, Seller] = {}
        self.lines_of: dict[str, dict[str, LineState]] = {}
        self.lines_as_of: dict[tuple[str, str], Any] = {}
        self.rows: dict[str, dict[str, Any]] = {}
        self.wakes = 0

    async def save_buyer(self, order_id: str, buyer: Buyer) -> None:
        self.buyer_of.setdefault(order_id, buyer)

    async def save_buyers(self, buyers: Sequence[tuple[str, Buyer]]) -> None:
        for order_id, buyer in buyers:
            await self.save_buyer(order_id, buyer)

    async def buyers(self, order_ids: Sequence[str]) -> dict[str, Buyer]:
        return {o: self.buyer_of[o] for o in order_ids if o in self.buyer_of}

    async def buyer(self, order_id: str) -> Buyer | None:
        return self.buyer_of.get(order_id)

    async def save_lines(self, order_id: str, lines: Sequence[LineState], as_of: Any) -> None:
        stored = self.lines_of.setdefault(order_id, {})
        for line in lines:  # a line's dates move forward only: an older update (a replay) changes nothing
            if self.lines_as_of.get((order_id, line.line_id), as_of) <= as_of:
                stored[line.line_id] = line
                self.lines_as_of[(order_id, line.line_id)] = as_of

    async def save_buyers_and_lines(self, buyers: Sequence[tuple[str, Buyer]],
                                    orders: Sequence[tuple[str, Sequence[LineState], Any]]) -> None:
        await self.save_buyers(buyers)
        await self.save_lines_of(orders)

    async def save_lines_of(self, orders: Sequence[tuple[str, Sequence[LineState], Any]]) -> None:
        for order_id, lines, as_of in orders:
            await self.save_lines(order_id, lines, as_of)

    async def lines(self, order_id: str) -> dict[str, LineState]:
        return dict(self.lines_of.get(order_id, {}))

    async def save_seller(self, seller: Seller) -> None:
        self.sellers[seller.seller_id] = seller

    async def seller(self, seller_id: str) -> Seller | None:
        return self.sellers.get(seller_id)

    async def add_all(self, rows: Sequence[dict[str, Any]]) -> set[str]:
        stored = set()
        for row in rows:
            if row["notification_id"] not in self.rows:
                self.rows[row["notification_id"]] = dict(row)
                stored.add(row["notification_id"])
        if any(self.rows[i]["channel"] == "email" and self.rows[i]["status"] == "pending" for i in stored):
            self.wakes += 1
        return stored

    async def foreign_app_ids(self, buyer_id: str, notification_ids: list[str]) -> list[str]:
        return [i for i in notification_ids
                if not (i in self.rows and self.rows[i]["buyer_id"] == buyer_id and self.rows[i]["channel"] == "app")]

    def _unread_app(self, buyer_id: str) -> list[dict[str, Any]]:
        return [r for r in self.rows.values()
                if r["buyer_id"] == buyer_id and r["channel"] == "app" and not r.get("read")]

    async def mark_read(self, buyer_id: str, notification_ids: list[str] | None = None) -> list[str]:
        marked = [r for r in self._unread_app(buyer_id)
                  if notification_ids is None or r["notification_id"] in notification_ids]
        for r in marked:
            r["read"] = True
        return [r["notification_id"] for r in marked]

    async def unread_count(self, buyer_id: str) -> int:
        return len(self._unread_app(buyer_id))

    def of_seller(self, seller_id: str) -> list[dict[str, Any]]:
        return [r for r in self.rows.values() if r["seller_id"] == seller_id]


@dataclass(frozen=True)
class Emitted:
    topic: str
    key: str | None
    payload: Payload
    cause: Cause | None


class FakeUow:
    """One handler's transaction: the fake store, the real renderer, and what it emitted."""

    def __init__(self, store: FakeNotifications | None = None) -> None:
        self.notifications = store or FakeNotifications()
        self.renderer = Renderer("https://shop.example/orders/{order_id}")
        self.emitted: list[Emitted] = []
        self._cause: Cause | None = None

    @property
    def cause(self) -> Cause | None:
        return self._cause

    @contextmanager
    def caused_by(self, cause: Cause | None) -> Iterator[None]:
        previous, self._cause = self._cause, cause
        try:
            yield
        finally:
            self._cause = previous

    def emit(self, topic: Topic | str, payload: Payload, *, key: str | None) -> Any:
        self.emitted.append(Emitted(topic.name if isinstance(topic, Topic) else topic, key, payload, self._cause))

    def after_commit(self, action: Callable[[], None]) -> None:
        action()  # the fake's transaction is committed as it goes

    def of_type(self, name: str) -> list[Any]:
        return [e.payload for e in self.emitted if e.payload.message_type == name]


def cause(event_id: uuid.UUID | None = None) -> Cause:
    """A consumed message, as the runtime names it."""
    return Cause(event_id or uuid.uuid4(), uuid.uuid4())
