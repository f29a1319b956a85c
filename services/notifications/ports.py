"""What the notifications handlers need from the outside world, as protocols.

``repository.NotificationsRepository`` (PostgreSQL) implements ``NotificationsStore``,
``rendering.Renderer`` implements ``NoticeRenderer``, and ``unit_of_work.NotificationsUnitOfWork``
implements ``NotificationsUow``. Handlers are typed against these, so a test can hand them an
in-memory fake instead of a database. (The email sender is a job, not a handler: it works on
the unit of work itself.)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from services.notifications.domain import Buyer, LineState, Notice, Seller
from services.notifications.rendering import Rendered
from shared.cause import Cause
from shared.contract.envelope import Payload
from shared.contract.topics import Topic


class NotificationsStore(Protocol):
    """Each order's buyer and line states, and the notifications told about it."""

    async def save_buyer(self, order_id: str, buyer: Buyer) -> None: ...

    async def save_buyers(self, buyers: Sequence[tuple[str, Buyer]]) -> None: ...

    async def buyers(self, order_ids: Sequence[str]) -> dict[str, Buyer]: ...

    async def buyer(self, order_id: str) -> Buyer | None: ...

    async def save_lines(self, order_id: str, lines: Sequence[LineState], as_of: Any) -> None: ...

    async def save_lines_of(self, orders: Sequence[tuple[str, Sequence[LineState], Any]]) -> None: ...

    async def save_buyers_and_lines(self, buyers: Sequence[tuple[str, Buyer]],
                                    orders: Sequence[tuple[str, Sequence[LineState], Any]]) -> None:
        """``save_buyers`` then ``save_lines_of``, at once."""
        ...

    async def lines(self, order_id: str) -> dict[str, LineState]: ...

    async def save_seller(self, seller: Seller) -> None: ...

    async def seller(self, seller_id: str) -> Seller | None: ...

    async def add_all(self, rows: Sequence[dict[str, Any]]) -> set[str]:
        """Store notification rows; returns the ids stored now (an id seen before is skipped). An email queued
        wakes the senders once the transaction commits."""
        ...

    async def foreign_app_ids(self, buyer_id: str, notification_ids: list[str]) -> list[str]: ...

    async def mark_read(self, buyer_id: str, notification_ids: list[str] | None = None) -> list[str]: ...

    async def unread_count(self, buyer_id: str) -> int: ...


class NoticeRenderer(Protocol):
    def render(self, notice: Notice, buyer: Buyer | None) -> Rendered: ...


class NotificationsUow(Protocol):
    """One transaction: the store on it, the renderer, the message being handled, and the outbox."""

    @property
    def notifications(self) -> NotificationsStore: ...

    @property
    def renderer(self) -> NoticeRenderer: ...

    @property
    def cause(self) -> Cause | None: ...

    def caused_by(self, cause: Cause | None) -> AbstractContextManager[None]:
        """Messages emitted in the block were caused by ``cause`` (a batch handler's, per message)."""
        ...

    def emit(self, topic: Topic | str, payload: Payload, *, key: str | None) -> Any: ...

    def after_commit(self, action: Callable[[], None]) -> None: ...
