from __future__ import annotations

from collections.abc import Callable

from services.notifications.rendering import Renderer
from services.notifications.repository import NotificationsRepository
from services.notifications.settings import NotificationsSettings
from shared.clock import Clock
from shared.persistence.db import Conn
from shared.persistence.uow import UnitOfWork

#: the ``producer`` of every envelope notifications emits
PRODUCER = "notifications"


class NotificationsUnitOfWork(UnitOfWork):
    """``ports.NotificationsUow`` on PostgreSQL (and what the email sender works on)."""

    def __init__(self, conn: Conn, settings: NotificationsSettings, clock: Clock,
                 renderer: Renderer) -> None:
        super().__init__(conn, producer=PRODUCER, clock=clock)
        self.notifications = NotificationsRepository(self.conn)
        self.renderer = renderer
        self.settings = settings


def make_uow(settings: NotificationsSettings, clock: Clock
             ) -> Callable[[Conn], NotificationsUnitOfWork]:
    renderer = Renderer(settings.order_url)  # templates are loaded and compiled once per process
    return lambda conn: NotificationsUnitOfWork(conn, settings, clock, renderer)
