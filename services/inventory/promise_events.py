"""Promise events (R25): a ``PromiseChanged`` when what a storefront shows of a SKU changed.

Called at the end of every inventory transaction that moved a SKU's levels or policy, with
the SKUs locked: what the storefront showed as the transaction read them is compared with what
it shows now (``promise.shown``: the label of one unit and the handling time). Only a
difference is announced, so a flash sale sends one event per change of label (in stock → on
back order → out of stock), not one per order, and a batch of orders that crosses two labels
sends the last one only.
"""

from __future__ import annotations

from collections.abc import Iterable

from services.inventory.ports import InventoryUow
from services.inventory.promise import shown, unit_promise
from services.inventory.stock import Locked
from shared.clock import aware_now
from shared.contract import inventory as inv
from shared.contract.topics import INVENTORY_EVENTS_TOPIC as EVENTS


async def announce_promises(uow: InventoryUow, locked: Locked, sku_ids: Iterable[str]) -> None:
    for sku_id in sku_ids:
        before = shown(*locked.as_read(sku_id))
        levels, policy = locked.sku_levels(sku_id), locked.policy(sku_id)
        if shown(levels, policy) == before:
            continue
        now = aware_now(uow.clock)
        seller = await uow.inventory.seller_terms(sku_id)
        unit = unit_promise(now, levels, policy, seller, uow.dating)
        uow.emit(EVENTS, inv.PromiseChanged(
            sku_id=sku_id, orderable=unit.shown.orderable, label=unit.shown.label,
            available_regular=unit.available.regular, available_backorder=unit.available.backorder,
            handling_days=policy.handling_days, dispatch_days=unit.dispatch_days, seller_region=seller.region,
            seller_timezone=seller.timezone, ship_by=unit.ship_by, estimated_delivery=unit.estimated_delivery,
            as_of=now,
        ), key=sku_id)
