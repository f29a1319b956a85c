"""orders.events payloads as the orders service emits them, for the notifications tests."""

from __future__ import annotations

from datetime import UTC, date, datetime

from shared.contract import orders as o

PLACED_AT = datetime(2026, 11, 23, 2, 30, tzinfo=UTC)  # 21:30 on the 22nd in New York
SHIP_BY = date(2026, 12, 4)
ETA = date(2026, 12, 9)


def email_of(buyer_id: str) -> str:
    return f"{buyer_id}.private@mail-provider.example"


def placed(order_id: str, buyer_id: str = "buyer-1", *, locale: str = "en_US", timezone: str | None = None,
           region: str = "US", lines: int = 2, placed_at: datetime = PLACED_AT) -> o.OrderPlaced:
    return o.OrderPlaced(
        order_id=order_id, buyer_id=buyer_id, buyer_email=email_of(buyer_id), region=region, locale=locale,
        timezone=timezone, placed_at=placed_at,
        lines=[o.OrderLine(line_id=f"l{i}", sku_id=f"sku-{i}", qty=3) for i in range(1, lines + 1)],
    )


def part(source: str, qty: int, ship_by: date = SHIP_BY, eta: date = ETA, warehouse: str = "wh-1") -> o.DatedPart:
    return o.DatedPart(source=source, warehouse_id=warehouse, qty=qty, ship_by=ship_by,  # type: ignore[arg-type]
                       estimated_delivery=eta)


def accepted(order_id: str, buyer_id: str = "buyer-1", *, backordered: bool = True) -> o.OrderAccepted:
    """l1: 1 in stock + 2 on back order (a partial backorder); l2: 3 in stock."""
    regular = part("regular", 1, date(2026, 11, 25), date(2026, 11, 28))
    l1_parts = [regular, part("backorder", 2)] if backordered else [part("regular", 3, date(2026, 11, 25))]
    return o.OrderAccepted(
        order_id=order_id, buyer_id=buyer_id, status="awaiting_shipment",
        tags=["back_order"] if backordered else [],
        lines=[
            o.AcceptedLine(line_id="l1", sku_id="sku-1", qty=3, parts=l1_parts),
            o.AcceptedLine(line_id="l2", sku_id="sku-2", qty=3,
                           parts=[part("regular", 3, date(2026, 11, 25), date(2026, 11, 28))]),
        ],
    )


def released(order_id: str, buyer_id: str = "buyer-1", ship_by: date = date(2026, 12, 1),
             eta: date = date(2026, 12, 5)) -> o.LinesReleased:
    return o.LinesReleased(order_id=order_id, buyer_id=buyer_id, lines=[
        o.ReleasedLine(line_id="l1", sku_id="sku-1", qty=2, ship_by=ship_by, estimated_delivery=eta)])


def shipped(order_id: str, buyer_id: str = "buyer-1", tracking: str = "1Z999AA10123456784") -> o.LinesShipped:
    return o.LinesShipped(order_id=order_id, buyer_id=buyer_id, line_ids=["l1", "l2"], tracking_number=tracking,
                          status="shipped")


def late(order_id: str, buyer_id: str = "buyer-1", ship_by: date = SHIP_BY, eta: date = ETA) -> o.OrderShipmentLate:
    return o.OrderShipmentLate(order_id=order_id, buyer_id=buyer_id, line_id="l1", sku_id="sku-1", ship_by=ship_by,
                               estimated_delivery=eta)


def delayed(order_id: str, buyer_id: str = "buyer-1", ship_by: date = date(2026, 12, 11),
            eta: date = date(2026, 12, 16), previous: tuple[date, date] = (SHIP_BY, ETA)) -> o.BackorderDelayed:
    return o.BackorderDelayed(order_id=order_id, buyer_id=buyer_id, line_id="l1", sku_id="sku-1",
                              previous_ship_by=previous[0], ship_by=ship_by, previous_estimated_delivery=previous[1],
                              estimated_delivery=eta, reason="handling_time_extended")


def cancelled(order_id: str, buyer_id: str = "buyer-1") -> o.LinesCancelled:
    return o.LinesCancelled(order_id=order_id, buyer_id=buyer_id, reason="buyer_request", status="awaiting_shipment",
                            lines=[o.CancelledLine(line_id="l1", sku_id="sku-1",
                                                   parts=[o.CancelledPart(warehouse_id="wh-1", source="backorder",
                                                                          qty=2)])])


def refund(order_id: str, buyer_id: str = "buyer-1") -> o.RefundRequested:
    return o.RefundRequested(order_id=order_id, buyer_id=buyer_id, line_id="l1", reason="replacement_unavailable")
