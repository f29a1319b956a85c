"""Orders handlers: ``async def handler(message, uow)``. They load an aggregate (locked), decide
with the domain, save through the stores and emit events; the consumer runtime commits.
The steps that decide and emit (``accept``, ``reject``, ``emit_placed``...) are public:
``batch_handlers.py`` runs the same steps over a run of messages, so both decide alike.

Commands (``orders.commands``) that are refused raise ``Rejection``: the runtime turns it
into ``CommandRejected`` on ``orders.events`` and nothing else happens. On the event topics
(``catalog.events``, ``inventory.events``) a ``Rejection`` dead-letters the event with its
reason, for an operator to look at: an event about an order this service never saw, or an
allocation that does not match the order, is a fault somewhere upstream.

Idempotency: the inbox skips a message id seen before. Business keys cover the rest: a
PlaceOrder repeating an existing order is a no-op (``duplicate_order`` if it differs), a
shipment or delivery already recorded is a no-op, a cancelled line stays cancelled, a
second allocation outcome is ignored, a release naming a receipt is applied once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

import structlog

from services.orders import domain
from services.orders.domain import Actor, Order, SkuTerms
from services.orders.lines import AllocatedQty, Line
from services.orders.ports import OrdersUoW
from services.orders.refunds import request_refunds
from services.orders.views import LostLine
from shared.cause import Cause
from shared.clock import aware_now as clock_now
from shared.contract import catalog as cat
from shared.contract import inventory as inv
from shared.contract import orders as o
from shared.contract.topics import ORDERS_EVENTS_TOPIC as EVENTS
from shared.dates import DatingPolicy
from shared.domain import Rejection
from shared.observability.metrics import DECISION_LATENCY
from shared.regions import region_zone_name

log = structlog.get_logger(__name__)


def _actor(uow: OrdersUoW) -> Actor | None:
    return actor_of(uow.cause)


def actor_of(cause: Cause | None) -> Actor | None:
    principal = cause.principal if cause else None
    return Actor(principal.kind, principal.id) if principal else None


def aware_now(uow: OrdersUoW) -> datetime:
    return clock_now(uow.clock)


def occurred_at(uow: OrdersUoW, cause: Cause | None = None) -> datetime:
    cause = cause or uow.cause
    return cause.occurred_at if cause is not None and cause.occurred_at is not None else aware_now(uow)


async def _order(uow: OrdersUoW, order_id: str) -> Order:
    order = await uow.orders.get(order_id, lock=True)
    if order is None:
        raise Rejection("unknown_order", f"order {order_id} does not exist")
    return order


def _accepted_line(line: Line) -> o.AcceptedLine:
    return o.AcceptedLine(
        line_id=line.line_id, sku_id=line.sku_id, qty=line.qty, seller_id=line.seller_id,
        parts=[
            o.DatedPart(source=p.source, warehouse_id=p.warehouse_id, qty=p.qty, ship_by=p.ship_by,
                        estimated_delivery=p.estimated_delivery)
            for p in line.parts
        ],
    )


def _cancelled_line(line: Line) -> o.CancelledLine:
    return o.CancelledLine(
        line_id=line.line_id, sku_id=line.sku_id,
        parts=[
            o.CancelledPart(warehouse_id=p.warehouse_id, source=p.source, qty=p.qty,
                            released_qty=p.released_qty)
            for p in line.parts
        ],
    )


# ---------------------------------------------------------------- orders.commands


async def place_order(cmd: o.PlaceOrder, uow: OrdersUoW) -> None:
    domain.check_may_place(_actor(uow), cmd.buyer_id)
    if is_repeat(cmd, await uow.orders.get(cmd.order_id)):
        return
    order = new_order(cmd, await uow.catalog.terms(_skus_of(cmd)), aware_now(uow),
                      uow.cause.received_at if uow.cause else None)
    await uow.orders.add(order, uow.cause.correlation_id if uow.cause else None)
    emit_placed(uow, order, cmd)


def _skus_of(cmd: o.PlaceOrder) -> list[str]:
    return sorted({line.sku_id for line in cmd.lines})


def is_repeat(cmd: o.PlaceOrder, existing: Order | None) -> bool:
    """True if the order exists already from this same request (a retry: nothing to do)."""
    if existing is None:
        return False
    if existing.same_request(cmd.buyer_id, [(line.line_id, line.sku_id, line.qty) for line in cmd.lines]):
        log.info("place_order_repeated", order_id=cmd.order_id)
        return True
    raise Rejection("duplicate_order", f"order {cmd.order_id} exists already with other contents")


def new_order(cmd: o.PlaceOrder, known: dict[str, SkuTerms], now: datetime, received_at: datetime | None) -> Order:
    return domain.place(
        order_id=cmd.order_id, buyer_id=cmd.buyer_id, buyer_email=cmd.buyer_email, region=cmd.region,
        locale=cmd.locale, timezone=cmd.timezone or region_zone_name(cmd.region), placed_at=now,
        received_at=received_at,
        lines=[(line.line_id, line.sku_id, line.qty) for line in cmd.lines],
        sellers={sku: t.seller_id for sku, t in known.items() if t.seller_id},
    )


def emit_placed(uow: OrdersUoW, order: Order, cmd: o.PlaceOrder) -> None:
    uow.emit(EVENTS, o.OrderPlaced(
        order_id=order.order_id, buyer_id=order.buyer_id, buyer_email=order.buyer_email, region=order.region,
        locale=order.locale, timezone=order.timezone, placed_at=order.placed_at, lines=list(cmd.lines),
    ), key=order.order_id)


async def ship_lines(cmd: o.ShipLines, uow: OrdersUoW) -> None:
    order = await _order(uow, cmd.order_id)
    units = {q.line_id: q.qty for q in cmd.quantities}
    shipped = order.ship(cmd.line_ids, cmd.tracking_number, aware_now(uow), _actor(uow), units)
    if not shipped:
        return
    await uow.orders.save(order)
    uow.emit(EVENTS, o.LinesShipped(
        order_id=order.order_id, buyer_id=order.buyer_id, line_ids=[line.line_id for line in shipped],
        tracking_number=cmd.tracking_number, status=order.status,
        quantities=[o.LineQty(line_id=line_id, qty=qty) for line_id, qty in units.items()],
    ), key=order.order_id)


async def cancel_lines(cmd: o.CancelLines, uow: OrdersUoW) -> None:
    order = await _order(uow, cmd.order_id)
    cancelled = order.cancel(cmd.line_ids, cmd.reason, aware_now(uow), _actor(uow))
    if not cancelled:
        return
    await uow.orders.save(order)
    uow.emit(EVENTS, o.LinesCancelled(
        order_id=order.order_id, buyer_id=order.buyer_id, lines=[_cancelled_line(line) for line in cancelled],
        reason=cmd.reason, status=order.status,
    ), key=order.order_id)
    request_refunds(uow, order, cancelled, cmd.reason)


async def request_replacement(cmd: o.RequestReplacement, uow: OrdersUoW) -> None:
    order = await _order(uow, cmd.order_id)
    line = order.line(cmd.line_id)
    sku = await uow.catalog.sku(line.sku_id)
    stock = await uow.stock.status(line.sku_id)
    decision = order.request_replacement(
        cmd.line_id, _actor(uow), on_backorder=sku is not None and sku.listing_type == "backorder",
        out_of_stock=stock.out_of_stock,
    )
    await uow.orders.save(order)
    if decision.outcome == "refund":
        uow.emit(EVENTS, o.RefundRequested(
            order_id=order.order_id, buyer_id=order.buyer_id, line_id=line.line_id, sku_id=line.sku_id,
            reason="replacement_unavailable", detail=decision.detail,
        ), key=order.order_id)
    else:
        uow.emit(EVENTS, o.ReplacementAccepted(
            order_id=order.order_id, buyer_id=order.buyer_id, line_id=line.line_id, sku_id=line.sku_id,
            qty=line.qty,
        ), key=order.order_id)


async def confirm_delivery(cmd: o.ConfirmDelivery, uow: OrdersUoW) -> None:
    order = await _order(uow, cmd.order_id)
    delivered = order.deliver(cmd.tracking_number, aware_now(uow), _actor(uow))
    if not delivered:
        return
    await uow.orders.save(order)
    uow.emit(EVENTS, o.OrderDelivered(
        order_id=order.order_id, buyer_id=order.buyer_id, line_ids=[line.line_id for line in delivered],
        tracking_number=cmd.tracking_number, status=order.status,
    ), key=order.order_id)


# ---------------------------------------------------------------- inventory.events


def _terms_for(order: Order, known: dict[str, SkuTerms], sku_id: str) -> SkuTerms:
    """The SKU's terms; what orders does not know yet is taken from the buyer's side, logged."""
    terms = known.get(sku_id)
    if terms is not None and terms.region:
        return terms
    log.warning("sku_terms_unknown", order_id=order.order_id, sku_id=sku_id, seller_known=terms is not None)
    return SkuTerms(
        seller_id=terms.seller_id if terms else None, region=order.region,
        timezone=order.timezone or region_zone_name(order.region),
        handling_days=terms.handling_days if terms else None,
    )


async def stock_allocated(evt: inv.StockAllocated, uow: OrdersUoW) -> None:
    order = await _order(uow, evt.order_id)
    known = await uow.catalog.terms(sorted({line.sku_id for line in order.lines}))
    acceptance = accept(order, evt, known, uow.dating, aware_now(uow))
    if acceptance is None:
        return
    await uow.orders.save(order)
    await uow.stock.exhausted(backordered_skus(evt), occurred_at(uow))
    emit_acceptance(uow, order, acceptance)


def accept(order: Order, evt: inv.StockAllocated, known: dict[str, SkuTerms], dating: DatingPolicy,
            now: datetime) -> domain.Acceptance | None:
    """Date and accept the order's lines as allocated; None if its outcome was applied already."""
    skus = {line.line_id: line.sku_id for line in order.lines}
    for allocated in evt.lines:
        if skus.get(allocated.line_id, allocated.sku_id) != allocated.sku_id:
            raise Rejection("invalid_allocation", f"line {allocated.line_id} is not SKU {allocated.sku_id}")
    allocation = {
        line.line_id: [AllocatedQty(p.warehouse_id, p.source, p.qty) for p in line.parts] for line in evt.lines
    }
    acceptance = order.accept(allocation, lambda sku: _terms_for(order, known, sku), dating, now)
    if acceptance is None:
        log.info("allocation_outcome_repeated", order_id=order.order_id)
    return acceptance


def backordered_skus(evt: inv.StockAllocated) -> list[str]:
    """The SKUs this allocation had to take backorder stock of: no regular stock was left (R18)."""
    return [line.sku_id for line in evt.lines if any(p.source == "backorder" for p in line.parts)]


def _decided(uow: OrdersUoW, order: Order, outcome: str) -> None:
    started = order.received_at or order.placed_at  # orders written before received_at was kept have none
    seconds = max(0.0, (aware_now(uow) - started).total_seconds())
    uow.after_commit(lambda: DECISION_LATENCY.labels(outcome).observe(seconds))  # a redone batch counts once


def emit_acceptance(uow: OrdersUoW, order: Order, acceptance: domain.Acceptance) -> None:
    if acceptance.accepted:
        _decided(uow, order, "accepted")
        uow.emit(EVENTS, o.OrderAccepted(
            order_id=order.order_id, buyer_id=order.buyer_id, status=order.status,
            tags=order.tags, lines=[_accepted_line(line) for line in acceptance.accepted],
        ), key=order.order_id)
    if acceptance.cancelled_before_allocation:
        uow.emit(EVENTS, o.LinesCancelled(
            order_id=order.order_id, buyer_id=order.buyer_id,
            lines=[_cancelled_line(line) for line in acceptance.cancelled_before_allocation],
            reason="cancelled_before_allocation", status=order.status,
        ), key=order.order_id)


async def allocation_rejected(evt: inv.AllocationRejected, uow: OrdersUoW) -> None:
    order = await _order(uow, evt.order_id)
    rejected = reject(order, evt, aware_now(uow))
    if rejected is None:
        return
    await uow.orders.save(order)
    await uow.stock.exhausted(exhausted_skus(order, evt), occurred_at(uow))
    lost = lost_lines(order, evt, rejected, await uow.catalog.terms(sorted({ln.sku_id for ln in rejected})),
                      aware_now(uow))
    await uow.orders.record_lost_demand(lost)
    emit_rejection(uow, order, evt, rejected)


def reject(order: Order, evt: inv.AllocationRejected, now: datetime) -> list[Line] | None:
    rejected = order.reject(evt.reason, now)
    if rejected is None:
        log.info("allocation_outcome_repeated", order_id=order.order_id)
    return rejected


def exhausted_skus(order: Order, evt: inv.AllocationRejected) -> list[str]:
    """The SKUs an allocation failed for lack of stock (R18)."""
    if evt.reason != "out_of_stock":
        return []
    named = set(evt.line_ids) or {line.line_id for line in order.lines}
    return [line.sku_id for line in order.lines if line.line_id in named]


def lost_lines(order: Order, evt: inv.AllocationRejected, rejected: Sequence[Line],
               terms: Mapping[str, SkuTerms], at: datetime) -> list[LostLine]:
    """The demand an out-of-stock rejection turned away (R33): the rejected lines it names (every rejected
    line if it names none), with their seller (from the catalog when the line has none yet) and units.
    The order's other lines had stock: they are not lost demand of their SKU."""
    if evt.reason != "out_of_stock":
        return []
    named = set(evt.line_ids) or {line.line_id for line in rejected}
    return [
        LostLine(order.order_id, line.line_id, line.sku_id,
                 line.seller_id or (terms[line.sku_id].seller_id if line.sku_id in terms else None), line.qty, at)
        for line in rejected if line.line_id in named
    ]


def emit_rejection(uow: OrdersUoW, order: Order, evt: inv.AllocationRejected, rejected: list[Line]) -> None:
    if rejected:
        _decided(uow, order, "rejected")
        line_ids = list(evt.line_ids) or [line.line_id for line in rejected]
        sku_ids = sorted({line.sku_id for line in rejected if line.line_id in line_ids})
        uow.emit(EVENTS, o.OrderRejected(
            order_id=order.order_id, buyer_id=order.buyer_id, line_ids=line_ids,
            reason=o.RejectionReason(code=evt.reason, sku_ids=sku_ids),
        ), key=order.order_id)


async def backorder_released(evt: inv.BackorderReleased, uow: OrdersUoW) -> None:
    order = await _order(uow, evt.order_id)
    line = order.line(evt.line_id)
    if line.sku_id != evt.sku_id:
        raise Rejection("invalid_release", f"line {evt.line_id} is SKU {line.sku_id}, not {evt.sku_id}")
    if evt.receipt_id is not None and not await uow.orders.record_release(
        evt.order_id, evt.line_id, evt.warehouse_id, evt.receipt_id, evt.qty, aware_now(uow)
    ):
        log.info("release_repeated", order_id=evt.order_id, line_id=evt.line_id, receipt_id=evt.receipt_id)
        return
    ready = order.release(evt.line_id, evt.warehouse_id, evt.qty)
    await uow.orders.save(order)
    if ready is not None:
        dates = ready.backorder_dates()
        assert dates is not None
        uow.emit(EVENTS, o.LinesReleased(
            order_id=order.order_id, buyer_id=order.buyer_id,
            lines=[o.ReleasedLine(line_id=ready.line_id, sku_id=ready.sku_id, qty=ready.qty, ship_by=dates[0],
                                  estimated_delivery=dates[1])],
        ), key=order.order_id)


# ---------------------------------------------------------------- catalog.events


async def seller_registered(evt: cat.SellerRegistered, uow: OrdersUoW) -> None:
    await uow.catalog.save_seller(evt.seller_id, evt.region, evt.timezone)


async def listing_upserted(evt: cat.ListingUpserted, uow: OrdersUoW) -> None:
    await uow.catalog.save_listing(evt.seller_id, evt.listing_id, evt.sku_ids)


async def backorder_activated(evt: cat.BackorderActivated, uow: OrdersUoW) -> None:
    """Record the handling time; a longer one re-dates the lines still waiting for stock (rolling backorder)."""
    await uow.catalog.save_seller(evt.seller_id, evt.region, evt.timezone)
    previous = await uow.catalog.sku(evt.sku_id, lock=True)
    await uow.catalog.set_backorder(evt.sku_id, evt.seller_id, evt.listing_id, evt.handling_days)
    if previous is not None and previous.handling_days is not None and evt.handling_days <= previous.handling_days:
        return
    for order_id in await uow.orders.orders_waiting_for(evt.sku_id):
        order = await uow.orders.get(order_id, lock=True)
        if order is None:
            continue
        delays = order.extend_handling(evt.sku_id, evt.handling_days, uow.dating)
        if not delays:
            continue
        await uow.orders.save(order)
        for delay in delays:
            uow.emit(EVENTS, o.BackorderDelayed(
                order_id=order.order_id, buyer_id=order.buyer_id, line_id=delay.line.line_id,
                sku_id=delay.line.sku_id, previous_ship_by=delay.previous_ship_by, ship_by=delay.ship_by,
                previous_estimated_delivery=delay.previous_estimated_delivery,
                estimated_delivery=delay.estimated_delivery, reason="handling_time_extended",
            ), key=order.order_id)


async def backorder_deactivated(evt: cat.BackorderDeactivated, uow: OrdersUoW) -> None:
    """The SKU is regular again; accepted orders keep their dates (R06)."""
    await uow.catalog.set_listing_type(evt.sku_id, "regular")


async def listing_type_changed(evt: cat.ListingTypeChanged, uow: OrdersUoW) -> None:
    await uow.catalog.set_listing_type(evt.sku_id, evt.listing_type)
