"""The notifications store contract: one script of ``NotificationsStore`` calls with the answers pinned.

The unit tests run it on ``FakeNotifications`` (``test_store_contract.py``), the integration tests on the
PostgreSQL repository (``tests/integration/test_notifications_store_contract.py``): the fake the handlers'
tests rely on answers as the real store does. ``EXPECTED`` was written from the real store's answers.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from services.notifications.domain import Buyer, LineState, Seller
from services.notifications.ports import NotificationsStore

N_APP_2 = "00000000-0000-4000-8000-0000000000a2"
N_APP_3 = "00000000-0000-4000-8000-0000000000a3"
N_APP = "00000000-0000-4000-8000-0000000000a1"
N_MAIL = "00000000-0000-4000-8000-0000000000e1"
N_9 = "00000000-0000-4000-8000-000000000009"
T0 = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)
BUYER = Buyer("b-1", "b1@example.com", "US", "en_US", "America/New_York", T0)
OTHER = Buyer("b-2", "b2@example.com", "DE", "de_DE", None, T0 + timedelta(minutes=1))


EXPECTED: list[Any] = [
    Buyer(
        buyer_id="b-1",
        email="b1@example.com",
        region="US",
        locale="en_US",
        timezone="America/New_York",
        placed_at=datetime(2026, 11, 23, 14, 0, tzinfo=UTC),
    ),
    None,
    {
        "o-2": Buyer(
            buyer_id="b-2",
            email="b2@example.com",
            region="DE",
            locale="de_DE",
            timezone=None,
            placed_at=datetime(2026, 11, 23, 14, 1, tzinfo=UTC),
        ),
        "o-1": Buyer(
            buyer_id="b-1",
            email="b1@example.com",
            region="US",
            locale="en_US",
            timezone="America/New_York",
            placed_at=datetime(2026, 11, 23, 14, 0, tzinfo=UTC),
        ),
    },
    {
        "l1": LineState(
            line_id="l1",
            sku_id="sku-a",
            qty=3,
            backorder_qty=2,
            ship_by=date(2026, 11, 30),
            estimated_delivery=date(2026, 12, 7),
        ),
        "l2": LineState(line_id="l2", sku_id="sku-a", qty=3, backorder_qty=0, ship_by=None, estimated_delivery=None),
    },
    {
        "l1": LineState(
            line_id="l1",
            sku_id="sku-a",
            qty=3,
            backorder_qty=1,
            ship_by=date(2026, 12, 2),
            estimated_delivery=date(2026, 12, 9),
        ),
        "l2": LineState(line_id="l2", sku_id="sku-a", qty=3, backorder_qty=0, ship_by=None, estimated_delivery=None),
    },
    {
        "l1": LineState(
            line_id="l1",
            sku_id="sku-a",
            qty=3,
            backorder_qty=3,
            ship_by=date(2026, 12, 1),
            estimated_delivery=date(2026, 12, 8),
        )
    },
    {},
    {
        "o-1": Buyer(
            buyer_id="b-1",
            email="b1@example.com",
            region="US",
            locale="en_US",
            timezone="America/New_York",
            placed_at=datetime(2026, 11, 23, 14, 0, tzinfo=UTC),
        ),
        "o-3": Buyer(
            buyer_id="b-1",
            email="b1@example.com",
            region="US",
            locale="en_US",
            timezone="America/New_York",
            placed_at=datetime(2026, 11, 23, 14, 0, tzinfo=UTC),
        ),
    },
    {
        "l1": LineState(
            line_id="l1",
            sku_id="sku-a",
            qty=3,
            backorder_qty=2,
            ship_by=date(2026, 12, 4),
            estimated_delivery=date(2026, 12, 11),
        )
    },
    {
        "l1": LineState(
            line_id="l1",
            sku_id="sku-a",
            qty=3,
            backorder_qty=1,
            ship_by=date(2026, 12, 2),
            estimated_delivery=date(2026, 12, 9),
        ),
        "l2": LineState(
            line_id="l2",
            sku_id="sku-a",
            qty=3,
            backorder_qty=1,
            ship_by=date(2026, 12, 9),
            estimated_delivery=date(2026, 12, 16),
        ),
    },
    Seller(seller_id="s-1", email=None, region="CA", timezone=None),
    None,
    ["00000000-0000-4000-8000-0000000000a1", "00000000-0000-4000-8000-0000000000e1"],
    ["00000000-0000-4000-8000-0000000000a2", "00000000-0000-4000-8000-0000000000a3"],
    2,
    1,
    [
        "00000000-0000-4000-8000-0000000000a3",
        "00000000-0000-4000-8000-0000000000e1",
        "00000000-0000-4000-8000-000000000009",
    ],
    ["00000000-0000-4000-8000-0000000000a1"],
    [],
    1,
    ["00000000-0000-4000-8000-0000000000a2"],
    0,
    1,
]


def _line(line_id: str, backorder_qty: int, ship_by: date | None) -> LineState:
    return LineState(line_id, "sku-a", 3, backorder_qty, ship_by, ship_by + timedelta(days=7) if ship_by else None)


def _row(notification_id: str, buyer_id: str, channel: str, status: str) -> dict[str, Any]:
    return {
        "notification_id": notification_id,
        "order_id": "o-1",
        "buyer_id": buyer_id,
        "seller_id": None,
        "sku_id": None,
        "channel": channel,
        "kind": "backorder_accepted",
        "line_ids": ["l1"],
        "revision": 0,
        "ship_by": date(2026, 11, 30),
        "estimated_delivery": date(2026, 12, 7),
        "locale": "en_US",
        "subject": "s",
        "body_text": "t",
        "body_html": "<p>h</p>" if channel == "email" else None,
        "data": {},
        "status": status,
        "last_error": None,
        "caused_by": None,
        "correlation_id": None,
    }


async def script(store: NotificationsStore) -> list[Any]:
    seen: list[Any] = []
    # buyers: the first one stored for an order is kept
    await store.save_buyer("o-1", BUYER)
    await store.save_buyers([("o-1", OTHER), ("o-2", OTHER), ("o-2", BUYER)])
    seen += [await store.buyer("o-1"), await store.buyer("o-9"), await store.buyers(["o-2", "o-1", "o-9"])]

    # lines: newer dates win, an older update (a replay) changes nothing, a tie goes to the later one
    await store.save_lines("o-1", [_line("l1", 2, date(2026, 11, 30)), _line("l2", 0, None)], T0)
    await store.save_lines("o-1", [_line("l1", 2, date(2026, 11, 20))], T0 - timedelta(hours=1))
    seen.append(await store.lines("o-1"))
    await store.save_lines_of(
        [
            ("o-1", [_line("l1", 1, date(2026, 12, 2))], T0 + timedelta(hours=1)),
            ("o-2", [_line("l1", 3, date(2026, 12, 1))], T0),
        ]
    )
    seen += [await store.lines("o-1"), await store.lines("o-2"), await store.lines("o-9")]

    # both at once, as a batch of orders events writes them: a line named twice keeps what one at a time would
    await store.save_buyers_and_lines(
        [("o-3", BUYER), ("o-1", OTHER)],
        [
            ("o-3", [_line("l1", 1, date(2026, 12, 3))], T0 + timedelta(hours=2)),
            ("o-3", [_line("l1", 2, date(2026, 12, 4))], T0 + timedelta(hours=2)),
            ("o-3", [_line("l1", 3, date(2026, 12, 5))], T0 + timedelta(hours=1)),
            ("o-1", [_line("l2", 1, date(2026, 12, 9))], T0 + timedelta(hours=3)),
        ],
    )
    seen += [await store.buyers(["o-1", "o-3"]), await store.lines("o-3"), await store.lines("o-1")]
    await store.save_buyers_and_lines([], [])

    # sellers (R32)
    await store.save_seller(Seller("s-1", "s1@example.com", "US", "America/Chicago"))
    await store.save_seller(Seller("s-1", None, "CA", None))
    seen += [await store.seller("s-1"), await store.seller("s-9")]

    # notifications: an id stored before is not stored again (R22); the app ones are read by their buyer only
    seen.append(
        sorted(await store.add_all([_row(N_APP, "b-1", "app", "sent"), _row(N_MAIL, "b-1", "email", "pending")]))
    )
    seen.append(
        sorted(
            await store.add_all(
                [
                    _row(N_APP, "b-1", "app", "sent"),
                    _row(N_APP_2, "b-1", "app", "sent"),
                    _row(N_APP_3, "b-2", "app", "sent"),
                ]
            )
        )
    )
    seen += [
        await store.unread_count("b-1"),
        await store.unread_count("b-2"),
        await store.foreign_app_ids("b-1", [N_APP, N_APP_3, N_MAIL, N_9]),
    ]
    seen += [
        sorted(await store.mark_read("b-1", [N_APP])),
        sorted(await store.mark_read("b-1", [N_APP])),
        await store.unread_count("b-1"),
        sorted(await store.mark_read("b-1")),
        await store.unread_count("b-1"),
        await store.unread_count("b-2"),
    ]
    return seen
