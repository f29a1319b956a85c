"""Projected fill dates of waiting backorders (R28). Pure: the queue and the inbounds in, dates out.

Per warehouse, the SKU's waiting parts, in queue order (explicit priority, then placement,
then arrival: R11, R19), take the open inbounds' remaining units in order of arrival. Where the
seller allows transfers (R31), the warehouses of the SKU's pool are one: their waiting parts,
in one queue, take the inbounds of any of them. A
part's projected day is the arrival day of the inbound that brings its last unit; a part
that the inbounds do not cover (nor any part behind it) has none. Receipts fill the queue
in the same order, so the projection is what will happen if every inbound arrives as
announced.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from shared.domain import Rejection


@dataclass(frozen=True)
class QueuedPart:
    """A waiting part, in queue order, with the projection it has now."""

    order_id: str
    line_id: str
    part_no: int
    warehouse_id: str
    qty: int
    projected_on: date | None = None
    inbound_id: str | None = None

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.order_id, self.line_id, self.part_no)


@dataclass(frozen=True)
class OpenInbound:
    inbound_id: str
    warehouse_id: str
    remaining: int
    expected_on: date


#: what re-projecting SKUs reads, by SKU: its open inbounds in order of arrival, and its waiting parts in queue order
SupplyAndQueue = dict[str, tuple[list[OpenInbound], list[QueuedPart]]]


@dataclass
class _Lot:
    inbound: OpenInbound
    left: int


def project(queue: Sequence[QueuedPart], inbounds: Iterable[OpenInbound],
            pool: Collection[str] = ()) -> list[QueuedPart]:
    """Every part of ``queue`` (already in queue order, per warehouse and across ``pool``) with its
    projected day and inbound; the caller saves those that changed. ``pool``: the warehouses whose
    stock serves one queue (R31), empty when the seller allows no transfers."""
    def supply_of(warehouse_id: str) -> str | None:
        return None if warehouse_id in pool else warehouse_id  # None: the pool's one supply

    supply: dict[str | None, list[_Lot]] = {}
    for inbound in inbounds:
        if inbound.remaining > 0:
            supply.setdefault(supply_of(inbound.warehouse_id), []).append(_Lot(inbound, inbound.remaining))
    out: list[QueuedPart] = []
    for part in queue:
        lots = supply.get(supply_of(part.warehouse_id), [])
        need, last = part.qty, None
        while need > 0 and lots:
            take = min(need, lots[0].left)
            need -= take
            lots[0].left -= take
            last = lots[0].inbound
            if lots[0].left == 0:
                lots.pop(0)
        if need > 0 or last is None:
            lots.clear()  # the rest of the queue is behind an uncovered part: nothing left for it
            out.append(_dated(part, None, None))
        else:
            out.append(_dated(part, last.expected_on, last.inbound_id))
    return out


def _dated(part: QueuedPart, day: date | None, inbound_id: str | None) -> QueuedPart:
    return QueuedPart(part.order_id, part.line_id, part.part_no, part.warehouse_id, part.qty, day, inbound_id)


def changed(before: Sequence[QueuedPart], after: Sequence[QueuedPart]) -> list[QueuedPart]:
    return [new for old, new in zip(before, after, strict=True)
            if (old.projected_on, old.inbound_id) != (new.projected_on, new.inbound_id)]


def check_inbound(qty: int | None, expected_on: date | None, today: date) -> None:
    """A seller's inbound must bring units, on a day not yet past (R28)."""
    if qty is not None and qty <= 0:
        raise Rejection("invalid_qty", f"an inbound brings at least one unit, not {qty}")
    if expected_on is not None and expected_on < today:
        raise Rejection("date_in_past", f"the expected arrival {expected_on} is in the past (today is {today})")


def receipt_mismatch(inbound: dict[str, object] | None, sku_id: str, warehouse_id: str) -> str | None:
    """Why a receipt cannot fulfil the inbound it names, or None when it can (R28)."""
    if inbound is None:
        return "unknown_inbound"
    if inbound["state"] == "cancelled":
        return "inbound_cancelled"
    if inbound["state"] == "received":
        return "inbound_received"
    if inbound["sku_id"] != sku_id:
        return "other_sku"
    if inbound["warehouse_id"] != warehouse_id:
        return "other_warehouse"
    return None
