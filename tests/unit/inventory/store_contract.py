"""What an ``InventoryStore`` does, as one script of port calls and the answers it must give.

``test_store_contract.py`` runs it against the in-memory ``FakeInventory`` the unit tests rely on, and
``tests/integration/test_inventory_store_contract.py`` against the PostgreSQL ``InventoryRepository``:
both must give ``EXPECTED``, so the fake cannot drift from the SQL (queue order, splits, repeats).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from services.inventory import domain
from services.inventory.domain import HeldPart, Level, Movement, Policy
from services.inventory.ports import InventoryStore
from services.inventory.projection import OpenInbound, QueuedPart
from services.inventory.promise import SellerTerms
from services.inventory.stock import Why
from shared.domain import Rejection

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
DAY = date(2026, 12, 1)


#: what ``script`` sees, step by step (checked against PostgreSQL by the integration test)
EXPECTED: list[Any] = [
    (['sku-a', 'sku-b'], [('sku-a', 'wh-1'), ('sku-a', 'wh-2')]),
    [],
    SellerTerms(region='US', timezone='America/New_York'),
    SellerTerms(region=None, timezone=None),
    [Policy(sku_id='sku-a', seller_id='seller-1', backorder_enabled=True, safety_stock=2, low_stock_threshold=5,
        low_stock_alerted=True, handling_days=4, transfers_allowed=True, transfer_warehouses=('wh-2', 'wh-1')),
        Policy(sku_id='sku-b', seller_id='seller-2', backorder_enabled=True, safety_stock=0,
        low_stock_threshold=None, low_stock_alerted=False, handling_days=None, transfers_allowed=False,
        transfer_warehouses=None), Policy(sku_id='sku-ghost', seller_id=None, backorder_enabled=False,
        safety_stock=0, low_stock_threshold=None, low_stock_alerted=False, handling_days=None,
        transfers_allowed=False, transfer_warehouses=None)],
    [Level(sku_id='sku-a', warehouse_id='wh-1', on_hand=10, allocated=3, backorder_limit=0, backorder_allocated=0,
        priority=100), Level(sku_id='sku-a', warehouse_id='wh-2', on_hand=0, allocated=0, backorder_limit=6,
        backorder_allocated=6, priority=100)],
    [Level(sku_id='sku-a', warehouse_id='wh-1', on_hand=10, allocated=3, backorder_limit=0, backorder_allocated=0,
        priority=100), Level(sku_id='sku-a', warehouse_id='wh-2', on_hand=0, allocated=0, backorder_limit=6,
        backorder_allocated=6, priority=100)],
    ['o-1', 'o-2'],
    1,
    0,
    [('o-3', 'l1', 1, 2, 5, None), ('o-2', 'l1', 1, 1, 0, None)],
    [('o-3', 'l1', 1, 2, 5, None), ('o-2', 'l1', 1, 1, 0, None), ('o-1', 'l1', 1, 2, 0, None)],
    [('o-3', 'l1', 1, 2, 5, 'wh-2'), ('o-2', 'l1', 1, 1, 0, 'wh-2'), ('o-4', 'l1', 1, 1, 0, 'wh-1'), ('o-1', 'l1',
        1, 2, 0, 'wh-2')],
    [('o-4', 'l1', 1, 1, 0, 'wh-1')],
    [('o-3', 'l1', 1, 1, 5, 'wh-2'), ('o-1', 'l1', 1, 1, 0, 'wh-2')],
    [HeldPart(order_id='o-1', line_id='l2', part_no=1, sku_id='sku-a', warehouse_id='wh-1', source='regular',
        qty=3, state='allocated', ship_from=None), HeldPart(order_id='o-1', line_id='l1', part_no=1,
        sku_id='sku-a', warehouse_id='wh-2', source='backorder', qty=1, state='waiting', ship_from=None),
        HeldPart(order_id='o-1', line_id='l1', part_no=2, sku_id='sku-a', warehouse_id='wh-2', source='backorder',
        qty=1, state='filled', ship_from='wh-1')],
    [HeldPart(order_id='o-3', line_id='l1', part_no=1, sku_id='sku-a', warehouse_id='wh-2', source='backorder',
        qty=1, state='waiting', ship_from=None), HeldPart(order_id='o-3', line_id='l1', part_no=2, sku_id='sku-a',
        warehouse_id='wh-2', source='backorder', qty=1, state='filled', ship_from=None)],
    [HeldPart(order_id='o-4', line_id='l1', part_no=1, sku_id='sku-a', warehouse_id='wh-1', source='backorder',
        qty=1, state='filled', ship_from='wh-2')],
    [],
    [HeldPart(order_id='o-1', line_id='l2', part_no=1, sku_id='sku-a', warehouse_id='wh-1', source='regular',
        qty=1, state='allocated', ship_from=None), HeldPart(order_id='o-1', line_id='l1', part_no=1,
        sku_id='sku-a', warehouse_id='wh-2', source='backorder', qty=1, state='waiting', ship_from=None),
        HeldPart(order_id='o-1', line_id='l1', part_no=2, sku_id='sku-a', warehouse_id='wh-2', source='backorder',
        qty=1, state='filled', ship_from='wh-1')],
    True,
    False,
    'receipt_id_reused',
    True,
    False,
    {'inbound_id': 'in-1', 'sku_id': 'sku-a', 'warehouse_id': 'wh-1', 'qty': 4, 'received': 0,
        'expected_on': date(2026, 12, 1), 'state': 'open'},
    None,
    [OpenInbound(inbound_id='in-1', warehouse_id='wh-1', remaining=1, expected_on=date(2026, 12, 1)),
        OpenInbound(inbound_id='in-2', warehouse_id='wh-2', remaining=5, expected_on=date(2026, 12, 4))],
    [QueuedPart(order_id='o-3', line_id='l1', part_no=1, warehouse_id='wh-2', qty=1, projected_on=None,
        inbound_id=None), QueuedPart(order_id='o-1', line_id='l1', part_no=1, warehouse_id='wh-2', qty=1,
        projected_on=None, inbound_id=None)],
    [],
    [QueuedPart(order_id='o-3', line_id='l1', part_no=1, warehouse_id='wh-2', qty=1, projected_on=date(2026, 12,
        1), inbound_id='in-1')],
    [QueuedPart(order_id='o-3', line_id='l1', part_no=1, warehouse_id='wh-2', qty=1, projected_on=date(2026, 12,
        1), inbound_id='in-1'), QueuedPart(order_id='o-1', line_id='l1', part_no=1, warehouse_id='wh-2', qty=1,
        projected_on=None, inbound_id=None)],
    {'sku-a': ([OpenInbound(inbound_id='in-1', warehouse_id='wh-1', remaining=1, expected_on=date(2026, 12, 1)),
                OpenInbound(inbound_id='in-2', warehouse_id='wh-2', remaining=5, expected_on=date(2026, 12, 4))],
               [QueuedPart(order_id='o-3', line_id='l1', part_no=1, warehouse_id='wh-2', qty=1,
                           projected_on=date(2026, 12, 1), inbound_id='in-1'),
                QueuedPart(order_id='o-1', line_id='l1', part_no=1, warehouse_id='wh-2', qty=1, projected_on=None,
                           inbound_id=None)])},
    [Level(sku_id='sku-a', warehouse_id='wh-1', on_hand=10, allocated=4, backorder_limit=0, backorder_allocated=0,
           priority=100)],
    ['o-5'],
    [Level(sku_id='sku-a', warehouse_id='wh-1', on_hand=10, allocated=4, backorder_limit=0, backorder_allocated=0,
           priority=100),
     Level(sku_id='sku-a', warehouse_id='wh-2', on_hand=0, allocated=0, backorder_limit=6, backorder_allocated=6,
           priority=100)],
    [HeldPart(order_id='o-5', line_id='l1', part_no=1, sku_id='sku-a', warehouse_id='wh-1', source='regular', qty=1,
              state='allocated', ship_from=None)],
    ([True, False], ['o-5'], [('sku-a', 'wh-1'), ('sku-a', 'wh-2')]),
    True,
]


def _part(order_id: str, warehouse_id: str, qty: int, state: str, placed_at: datetime, *, line_id: str = "l1",
          part_no: int = 1, sku_id: str = "sku-a", source: str = domain.BACKORDER) -> dict[str, Any]:
    return {"order_id": order_id, "line_id": line_id, "part_no": part_no, "sku_id": sku_id,
            "warehouse_id": warehouse_id, "source": source, "qty": qty, "state": state, "placed_at": placed_at}


def _queue(parts: list[domain.WaitingPart]) -> list[tuple[Any, ...]]:
    return [(p.order_id, p.line_id, p.part_no, p.qty, p.priority, p.warehouse_id) for p in parts]


async def script(store: InventoryStore) -> list[Any]:
    seen: list[Any] = []
    # SKUs and levels come into being under the lock; an unknown SKU stays unknown
    locked = await store.lock(["sku-a", "sku-b"], ensure_skus=True, ensure_levels=[("sku-a", "wh-1"),
                                                                                   ("sku-a", "wh-2")])
    seen.append((sorted(locked.policies), [(lv.sku_id, lv.warehouse_id) for lv in locked.sku_levels("sku-a")]))
    seen.append(sorted((await store.lock(["sku-ghost"])).policies))
    await store.set_owner("sku-a", "seller-1")
    await store.set_owner("sku-ghost", "seller-1")  # no SKU row: nothing to own
    await store.set_backorder_enabled("sku-a", None, True)  # keeps the owner
    await store.set_backorder_enabled("sku-b", "seller-2", True)
    await store.set_handling_days("sku-a", 4)
    await store.set_stock_policy("sku-a", 2, 5)
    await store.set_low_stock_alerted("sku-a", True)
    await store.set_transfer_policy("sku-a", True, ["wh-2", "wh-1"])
    await store.save_seller("seller-1", "US", "America/New_York")
    seen += [await store.seller_terms("sku-a"), await store.seller_terms("sku-b")]
    locked = await store.lock(["sku-a", "sku-b", "sku-ghost"])
    seen.append([locked.policy(sku) for sku in ("sku-a", "sku-b", "sku-ghost")])

    # levels are saved as what changed since the lock, each checked
    locked.level("sku-a", "wh-1").on_hand += 10
    locked.level("sku-a", "wh-1").allocated += 3
    locked.level("sku-a", "wh-2").backorder_limit += 6
    locked.level("sku-a", "wh-2").backorder_allocated += 6
    seen.append(await store.save_levels(locked))
    seen.append((await store.lock(["sku-a"])).sku_levels("sku-a"))
    await store.record([(Movement("sku-a", "wh-1", domain.RECEIPT, on_hand=10), Why("c1", "ReceiveStock", None))])

    # decisions: an order is decided once
    await store.record_decisions([("o-1", True, T0), ("o-2", False, T0)])
    seen.append(sorted(await store.decided(["o-1", "o-2", "o-3"])))

    # the restock queue: explicit priority, then placement, then arrival
    await store.insert_parts([
        _part("o-1", "wh-2", 2, domain.WAITING, T0 + timedelta(minutes=2)),
        _part("o-1", "wh-1", 3, domain.ALLOCATED, T0 + timedelta(minutes=2), line_id="l2", source=domain.REGULAR),
        _part("o-2", "wh-2", 1, domain.WAITING, T0),
        _part("o-3", "wh-2", 2, domain.WAITING, T0 + timedelta(minutes=2)),
        _part("o-4", "wh-1", 1, domain.WAITING, T0 + timedelta(minutes=1)),
    ])
    seen.append(await store.set_priority("o-3", "sku-a", 5))
    seen.append(await store.set_priority("o-9", "sku-a", 5))
    seen += [_queue(await store.waiting("sku-a", "wh-2", 2)), _queue(await store.waiting("sku-a", "wh-2", 9)),
             _queue(await store.waiting_pooled("sku-a", ["wh-2", "wh-1"], 9)),
             _queue(await store.waiting_pooled("sku-a", ["wh-1"], 1))]

    # fills: a whole part, part of one (split off as a new part), from another warehouse (R31)
    queue = {p.order_id: p for p in await store.waiting_pooled("sku-a", ["wh-1", "wh-2"], 9)}
    await store.set_part_state(queue["o-2"], domain.FILLED)
    await store.split_part(queue["o-3"], 1)
    await store.fill_from(queue["o-1"], 1, "wh-1")
    await store.fill_from(queue["o-4"], 1, "wh-2")
    seen.append(_queue(await store.waiting_pooled("sku-a", ["wh-1", "wh-2"], 9)))
    seen += [await store.held("o-1", ["l1", "l2"]), await store.held("o-3", ["l1"], lock=True),
             await store.held("o-4", ["l1"]), await store.held("o-1", ["l9"])]

    # shipping some units of a held part splits them off as shipped
    held = {p.line_id: p for p in await store.held("o-1", ["l2"])}
    await store.ship_some(held["l2"], 2)
    seen.append(await store.held("o-1", ["l1", "l2"]))

    # receipts: new, a repeat, and the same id for other stock
    seen += [await store.new_receipt("r-1", "sku-a", "wh-1", 4), await store.new_receipt("r-1", "sku-a", "wh-1", 4)]
    try:
        await store.new_receipt("r-1", "sku-a", "wh-2", 4)
        seen.append("accepted")
    except Rejection as refused:
        seen.append(refused.reason)

    # inbounds and projections (R28)
    seen += [await store.warehouse_known("wh-2"), await store.warehouse_known("wh-9")]
    await store.insert_inbound("in-2", "sku-a", "wh-2", 5, DAY + timedelta(days=3))
    await store.insert_inbound("in-1", "sku-a", "wh-1", 4, DAY)
    await store.insert_inbound("in-3", "sku-a", "wh-1", 1, DAY)
    inbound = await store.inbound("in-1")
    seen += [inbound, await store.inbound("in-9")]
    assert inbound is not None
    await store.update_inbound({**inbound, "received": 3})
    cancelled = await store.inbound("in-3")
    assert cancelled is not None
    await store.update_inbound({**cancelled, "state": "cancelled"})
    seen.append(await store.open_inbounds("sku-a"))
    queued = await store.waiting_queue("sku-a")
    seen += [queued, await store.projected_parts("sku-a")]
    await store.set_projections([replace(queued[0], projected_on=DAY, inbound_id="in-1")])
    seen += [await store.projected_parts("sku-a"), await store.waiting_queue("sku-a")]
    seen.append(await store.reprojection_inputs(["sku-a", "sku-b", "sku-none"]))

    # an allocation saved at once: its decision, its part, its ledger row and its level
    locked = await store.lock(["sku-a"])
    locked.level("sku-a", "wh-1").allocated += 1
    seen.append(await store.save(
        locked, [(Movement("sku-a", "wh-1", domain.ALLOCATION, allocated=1, order_id="o-5", line_id="l1"),
                  Why("c5", "OrderPlaced", "buyer:b-5"))],
        [("o-5", True, T0)], [_part("o-5", "wh-1", 1, domain.ALLOCATED, T0, source=domain.REGULAR)]))
    seen += [sorted(await store.decided(["o-5", "o-6"])), (await store.lock(["sku-a"])).sku_levels("sku-a"),
             await store.held("o-5", ["l1"])]

    # the lock and the decisions in one read; R28: a SKU whose re-projection found nothing is idle until one of
    # its inbounds changes
    await store.projection_idle(["sku-b"])
    locked, decided = await store.lock_and_decided(["sku-a", "sku-b", "sku-ghost"], ["o-5", "o-9"])
    seen.append(([locked.policy(s).may_project for s in ("sku-a", "sku-b")], sorted(decided),
                 [(lv.sku_id, lv.warehouse_id) for lv in locked.sku_levels("sku-a")]))
    await store.insert_inbound("in-4", "sku-b", "wh-1", 1, DAY)
    seen.append((await store.lock(["sku-b"])).policy("sku-b").may_project)
    return seen
