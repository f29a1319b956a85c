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

from services.inventory import wire
from services.inventory.events import PromiseChanged
from services.inventory.ports import InventoryUow
from services.inventory.promise import shown, unit_promise
from services.inventory.stock import Stock
from shared.clock import aware_now


async def announce_promises(uow: InventoryUow, stock: Stock, sku_ids: Iterable[str]) -> None:
    for sku_id in sku_ids:
        before = shown(*stock.as_read(sku_id))
        levels, policy = stock.sku_levels(sku_id), stock.policy(sku_id)
        if shown(levels, policy) == before:
            continue
        now = aware_now(uow.clock)
        seller = await uow.inventory.seller_terms(sku_id)
        unit = unit_promise(now, levels, policy, seller, uow.dating)
        wire.publish(uow, [PromiseChanged(sku_id, unit, policy.handling_days, seller, now)])
