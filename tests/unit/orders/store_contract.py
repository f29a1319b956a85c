"""What the orders stores do (``OrderStorePort``, ``CatalogPort``, ``StockPort``), as one script of port
calls and the answers it must give.

``test_store_contract.py`` runs it against the in-memory fakes the unit tests rely on, and
``tests/integration/test_orders_store_contract.py`` against the PostgreSQL stores: both must give
``EXPECTED``, so the fakes cannot drift from the SQL.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from services.orders import domain
from services.orders.domain import SkuTerms
from services.orders.lines import AllocatedQty
from services.orders.ports import CatalogPort, OrderStorePort, StockPort
from services.orders.views import SKU_WIDE, LostLine, SkuRecord, StockStatus
from shared.dates import DatingPolicy

T0 = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)
FLOW = uuid.UUID("00000000-0000-4000-8000-000000000001")


#: what ``script`` sees, step by step (checked against PostgreSQL by the integration test)
EXPECTED: list[Any] = [
    SkuRecord(sku_id='sku-a', seller_id='s-1', listing_id='li-1', listing_type='backorder', handling_days=3),
    SkuRecord(sku_id='sku-b', seller_id='s-1', listing_id='li-1', listing_type='pre_order', handling_days=None),
    None,
    {'sku-a': SkuTerms(seller_id='s-1', region='US', timezone='America/New_York', handling_days=3,
        listing_type='backorder'), 'sku-b': SkuTerms(seller_id='s-1', region='US', timezone='America/New_York',
        handling_days=None, listing_type='pre_order'), 'sku-c': SkuTerms(seller_id='s-2', region='', timezone='',
        handling_days=5, listing_type='backorder')},
    (5, True),
    (None, False),
    (None, False),
    ('o-1', 'pending', None, None, [], [('l1', 'sku-a', 2, None, 'pending', None, None, []), ('l2', 'sku-b', 1,
        None, 'pending', None, None, [])]),
    None,
    uuid.UUID('00000000-0000-4000-8000-000000000001'),
    None,
    ['o-2', 'o-3'],
    ('o-1', 'awaiting_shipment', datetime(2026, 11, 23, 14, 0, tzinfo=UTC), None, ['back_order'], [('l1', 'sku-a',
        2, 's-1', 'awaiting_stock', 3, datetime(2026, 11, 28, 5, 0, tzinfo=UTC), [(0, 'wh-1', 'regular', 1,
        date(2026, 11, 25), date(2026, 12, 3), 0), (1, 'wh-2', 'backorder', 1, date(2026, 11, 27), date(2026, 12,
        4), 0)]), ('l2', 'sku-b', 1, 's-1', 'ready_to_ship', None, None, [(0, 'wh-1', 'regular', 1, date(2026, 11,
        25), date(2026, 12, 3), 0)])]),
    ('o-2', 'awaiting_shipment', datetime(2026, 11, 23, 14, 0, tzinfo=UTC), None, ['back_order'], [('l1', 'sku-a',
        1, 's-1', 'awaiting_stock', 3, datetime(2026, 11, 28, 5, 0, tzinfo=UTC), [(0, 'wh-1', 'backorder', 1,
        date(2026, 11, 27), date(2026, 12, 4), 0)])]),
    ('o-3', 'rejected', datetime(2026, 11, 23, 14, 1, tzinfo=UTC), 'out_of_stock', [], [('l1', 'sku-b', 4, None,
        'rejected', None, None, [])]),
    ['o-1', 'o-2'],
    [],
    True,
    False,
    True,
    (1, date(2026, 11, 26)),
    (2, date(2026, 11, 26)),
    StockStatus(available_to_promise=None, levels_as_of=None, exhausted_at=None),
    StockStatus(available_to_promise=5, levels_as_of=datetime(2026, 11, 23, 14, 0, tzinfo=UTC), exhausted_at=None),
    StockStatus(available_to_promise=5, levels_as_of=datetime(2026, 11, 23, 14, 0, tzinfo=UTC), exhausted_at=None),
    StockStatus(available_to_promise=1, levels_as_of=datetime(2026, 11, 23, 14, 2, tzinfo=UTC), exhausted_at=None),
    StockStatus(available_to_promise=1, levels_as_of=datetime(2026, 11, 23, 14, 2, tzinfo=UTC),
        exhausted_at=datetime(2026, 11, 23, 14, 3, tzinfo=UTC)),
    StockStatus(available_to_promise=None, levels_as_of=None, exhausted_at=datetime(2026, 11, 23, 14, 5,
        tzinfo=UTC)),
    StockStatus(available_to_promise=None, levels_as_of=None, exhausted_at=None),
]


@dataclass
class Stores:
    orders: OrderStorePort
    catalog: CatalogPort
    stock: StockPort


def _order(order_id: str, lines: list[tuple[str, str, int]]) -> domain.Order:
    return domain.place(order_id=order_id, buyer_id="b-1", buyer_email="b@example.com", region="US", locale="en_US",
                        timezone=None, placed_at=T0, lines=lines, sellers={})


def _shape(order: domain.Order | None) -> Any:
    """What a store must keep of an order: its status, decision, and each line's state, dates and parts."""
    if order is None:
        return None
    return (order.order_id, order.status, order.decided_at, order.reject_reason, order.tags, [
        (ln.line_id, ln.sku_id, ln.qty, ln.seller_id, ln.state, ln.handling_days, ln.due_at,
         [(p.part_no, p.warehouse_id, p.source, p.qty, p.ship_by, p.estimated_delivery, p.released_qty)
          for p in ln.parts]) for ln in order.lines])


async def script(stores: Stores) -> list[Any]:
    seen: list[Any] = []
    catalog, orders, stock = stores.catalog, stores.orders, stores.stock

    # the catalog's read model: sellers, listings, backorder terms, listing types, auto-cancel (R30)
    await catalog.save_seller("s-1", "US", "America/New_York")
    await catalog.save_listing("s-1", "li-1", ["sku-a", "sku-b"])
    await catalog.set_backorder("sku-a", "s-1", "li-1", 3)
    await catalog.set_backorder("sku-c", "s-2", "li-2", 5)  # a seller orders has not heard of yet
    await catalog.set_listing_type("sku-b", "pre_order")
    await catalog.set_listing_type("sku-ghost", "backorder")  # unknown here: nothing to change
    await catalog.save_listing("s-1", "li-1", ["sku-a"])  # listed again: keeps its backorder terms
    seen += [await catalog.sku("sku-a"), await catalog.sku("sku-b", lock=True), await catalog.sku("sku-ghost")]
    seen.append(await catalog.terms(["sku-a", "sku-b", "sku-c", "sku-ghost"]))
    await catalog.set_auto_cancel("s-1", 5, True)
    seen += [await catalog.auto_cancel("s-1"), await catalog.auto_cancel("s-9")]
    await catalog.set_auto_cancel("s-1", None, False)
    seen.append(await catalog.auto_cancel("s-1"))

    # orders: added, read back, accepted, saved
    terms = await catalog.terms(["sku-a", "sku-b"])
    first = _order("o-1", [("l1", "sku-a", 2), ("l2", "sku-b", 1)])
    await orders.add(first, FLOW)
    await orders.add_many([(_order("o-2", [("l1", "sku-a", 1)]), None),
                           (_order("o-3", [("l1", "sku-b", 4)]), None)])
    seen += [_shape(await orders.get("o-1")), _shape(await orders.get("o-9")),
             await orders.correlation_of("o-1"), await orders.correlation_of("o-2")]
    got = await orders.get("o-1", lock=True)
    assert got is not None
    got.accept({"l1": [AllocatedQty("wh-1", "regular", 1), AllocatedQty("wh-2", "backorder", 1)],
                "l2": [AllocatedQty("wh-1", "regular", 1)]}, terms.__getitem__, DatingPolicy(), T0)
    await orders.save(got)
    many = await orders.get_many(["o-2", "o-3", "o-9"], lock=True)
    many["o-2"].accept({"l1": [AllocatedQty("wh-1", "backorder", 1)]}, terms.__getitem__, DatingPolicy(), T0)
    many["o-3"].reject("out_of_stock", T0 + timedelta(minutes=1))
    await orders.save_many([many["o-2"], many["o-3"]])
    seen.append(sorted(many))
    seen += [_shape(o) for o in (await orders.get_many(["o-3", "o-1", "o-2"])).values()]
    seen += [await orders.orders_waiting_for("sku-a"), await orders.orders_waiting_for("sku-b")]

    # releases and slips are told once; lost demand is kept once per line (R33)
    seen += [await orders.record_release("o-1", "l1", "wh-2", "r-1", 1, T0),
             await orders.record_release("o-1", "l1", "wh-2", "r-1", 1, T0),
             await orders.record_release("o-1", "l1", "wh-2", "r-2", 1, T0)]
    seen += [await orders.record_slip("o-1", "l1", date(2026, 11, 26)),
             await orders.record_slip("o-1", "l1", date(2026, 11, 30))]
    lost = LostLine("o-3", "l1", "sku-b", "s-1", 4, T0)
    await orders.record_lost_demand([lost])
    await orders.record_lost_demand([lost])

    # stock signals (R18): the newest level per warehouse; the SKU-wide one wins when there is one
    seen.append(await stock.status("sku-a"))
    await stock.levels([("sku-a", "wh-1", 3, T0), ("sku-a", "wh-2", 2, T0)])
    seen.append(await stock.status("sku-a"))
    await stock.levels([("sku-a", "wh-1", 0, T0 - timedelta(minutes=1))])  # older than the one kept
    seen.append(await stock.status("sku-a"))
    await stock.levels([("sku-a", SKU_WIDE, 1, T0 + timedelta(minutes=2))])
    seen.append(await stock.status("sku-a"))
    await stock.exhausted(["sku-a", "sku-b"], T0 + timedelta(minutes=3))
    await stock.exhausted_many([("sku-a", T0 + timedelta(minutes=1)), ("sku-b", T0 + timedelta(minutes=5))])
    seen += [await stock.status("sku-a"), await stock.status("sku-b"), await stock.status("sku-none")]
    return seen
