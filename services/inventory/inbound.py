"""Expected inbound stock and the projected fill dates of waiting backorders (R28).

A seller announces, changes and cancels inbounds; every change to a SKU's queue or its
inbounds re-projects that SKU's waiting parts in the same transaction (``reproject``), and
the parts whose day moved are published in one ``BackorderProjected``. The SKU lock is
taken first, as everywhere in inventory, so nothing is half-applied.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from services.inventory import wire
from services.inventory.events import BackorderProjected, ReceiptMismatch
from services.inventory.ports import InventoryUow
from services.inventory.projection import changed, check_inbound, project, receipt_mismatch
from services.inventory.stock import Stock
from shared.contract import inventory as inv
from shared.domain import Rejection


async def reproject(uow: InventoryUow, sku_ids: Iterable[str], stock: Stock) -> None:
    """Project the waiting parts of these (locked) SKUs again; save and publish the ones that moved.
    Where the seller allows transfers, the SKU's pool of warehouses is projected as one queue (R31)."""
    # With no supply expected no part has a day, so only the parts that still carry one can move: the rest of
    # the queue (all of it, in a sale with nothing inbound) is not read on every new backorder
    wanted = sorted(set(sku_ids))
    if not wanted:
        return
    inputs = await uow.inventory.reprojection_inputs(wanted)
    await uow.inventory.projection_idle([s for s in wanted if not any(inputs.get(s, ((), ())))])
    for sku_id, (inbounds, queue) in sorted(inputs.items()):
        if not queue:
            continue
        pool = stock.policy(sku_id).transfer_pool(
            {lv.warehouse_id for lv in stock.sku_levels(sku_id)} | {i.warehouse_id for i in inbounds})
        moved = changed(queue, project(queue, inbounds, pool))
        if not moved:
            continue
        await uow.inventory.set_projections(moved)
        wire.publish(uow, [BackorderProjected(sku_id, tuple(moved))])


async def _open_inbound(uow: InventoryUow, inbound_id: str, sku_id: str) -> dict[str, Any]:
    inbound = await uow.inventory.inbound(inbound_id)
    if inbound is None or inbound["sku_id"] != sku_id:
        raise Rejection("unknown_inbound", f"no inbound {inbound_id} of {sku_id}")
    if inbound["state"] != "open":
        raise Rejection("inbound_closed", f"inbound {inbound_id} is {inbound['state']}")
    return inbound


async def announce_inbound(cmd: inv.AnnounceInbound, uow: InventoryUow) -> None:
    stock = await uow.inventory.lock([cmd.sku_id])
    stock.authorize(cmd.sku_id, uow.cause.principal if uow.cause else None, must_be_listed=True)
    check_inbound(cmd.qty, cmd.expected_on, uow.clock.now().date())
    if not await uow.inventory.warehouse_known(cmd.warehouse_id):
        raise Rejection("unknown_warehouse", f"inventory holds no stock level in warehouse {cmd.warehouse_id}")
    existing = await uow.inventory.inbound(cmd.inbound_id)
    if existing is not None:
        same = (existing["sku_id"], existing["warehouse_id"], existing["qty"], existing["expected_on"])
        if same == (cmd.sku_id, cmd.warehouse_id, cmd.qty, cmd.expected_on):
            return  # announced before: a repeat
        raise Rejection("inbound_id_reused", f"inbound {cmd.inbound_id} was announced with other values; "
                                             "change it with ChangeInbound")
    await uow.inventory.insert_inbound(cmd.inbound_id, cmd.sku_id, cmd.warehouse_id, cmd.qty, cmd.expected_on)
    await reproject(uow, [cmd.sku_id], stock)


async def change_inbound(cmd: inv.ChangeInbound, uow: InventoryUow) -> None:
    stock = await uow.inventory.lock([cmd.sku_id])
    stock.authorize(cmd.sku_id, uow.cause.principal if uow.cause else None, must_be_listed=True)
    if cmd.qty is None and cmd.expected_on is None:
        raise Rejection("nothing_to_change", "give a new qty, a new expected_on or both")
    check_inbound(cmd.qty, cmd.expected_on, uow.clock.now().date())
    inbound = await _open_inbound(uow, cmd.inbound_id, cmd.sku_id)
    inbound["qty"] = cmd.qty if cmd.qty is not None else inbound["qty"]
    inbound["expected_on"] = cmd.expected_on or inbound["expected_on"]
    if inbound["received"] >= inbound["qty"]:
        inbound["state"] = "received"  # smaller than what already came: nothing more expected
    await uow.inventory.update_inbound(inbound)
    await reproject(uow, [cmd.sku_id], stock)


async def cancel_inbound(cmd: inv.CancelInbound, uow: InventoryUow) -> None:
    stock = await uow.inventory.lock([cmd.sku_id])
    stock.authorize(cmd.sku_id, uow.cause.principal if uow.cause else None, must_be_listed=True)
    inbound = await _open_inbound(uow, cmd.inbound_id, cmd.sku_id)
    inbound["state"] = "cancelled"
    await uow.inventory.update_inbound(inbound)
    await reproject(uow, [cmd.sku_id], stock)


async def book_receipt(uow: InventoryUow, cmd: inv.ReceiveStock) -> None:
    """A receipt that names an inbound counts against it (the SKU is locked); one that cannot fulfil it
    is reported with ``ReceiptMismatch``, its units received all the same (R28)."""
    if cmd.inbound_id is None:
        return
    inbound = await uow.inventory.inbound(cmd.inbound_id)
    reason = receipt_mismatch(inbound, cmd.sku_id, cmd.warehouse_id)
    if reason is not None or inbound is None:
        wire.publish(uow, [ReceiptMismatch(cmd.receipt_id, cmd.inbound_id, cmd.sku_id, cmd.warehouse_id, cmd.qty,
                                           reason or "unknown_inbound")])
        return
    inbound["received"] += cmd.qty
    if inbound["received"] >= inbound["qty"]:
        inbound["state"] = "received"
    await uow.inventory.update_inbound(inbound)
