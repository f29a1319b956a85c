-- ======================================================================== orders

-- name: get_orders
-- Orders by id with their lines (an order has at least one): one, or a consumed batch's at once.
SELECT o.order_id, o.buyer_id, o.buyer_email, o.region, o.locale, o.timezone, o.placed_at, o.status, o.decided_at,
       o.reject_reason, o.received_at, l.line_id, l.position, l.sku_id, l.qty, l.seller_id, l.state, l.seller_region,
       l.seller_timezone, l.handling_days, l.due_at, l.late_at, l.shipped_at, l.tracking_number, l.delivered_at,
       l.cancelled_at, l.cancel_reason, l.replacement, l.shipments
FROM orders o JOIN order_lines l ON l.order_id = o.order_id
WHERE o.order_id = any(:order_ids) ORDER BY o.order_id, l.position;

-- name: lock_orders
-- Every change to an order takes these row locks first: the order's and its lines', so handlers on
-- several instances (an order's commands, its inventory events and a seller's catalog events may be
-- on different partitions) change one order one at a time, and the SLA clock (which locks lines,
-- never orders, skipping locked ones) skips lines a handler is changing. A batch's orders are locked
-- in key order, so two transactions locking overlapping batches never wait on each other in a cycle.
SELECT o.order_id, o.buyer_id, o.buyer_email, o.region, o.locale, o.timezone, o.placed_at, o.status, o.decided_at,
       o.reject_reason, o.received_at, l.line_id, l.position, l.sku_id, l.qty, l.seller_id, l.state, l.seller_region,
       l.seller_timezone, l.handling_days, l.due_at, l.late_at, l.shipped_at, l.tracking_number, l.delivered_at,
       l.cancelled_at, l.cancel_reason, l.replacement, l.shipments
FROM orders o JOIN order_lines l ON l.order_id = o.order_id
WHERE o.order_id = any(:order_ids) ORDER BY o.order_id, l.position FOR UPDATE;

-- name: orders_and_terms
-- ``get_orders`` and ``sku_terms`` in one read: the orders, and the terms of the SKUs named and of the orders'
-- lines (a JSON array on the first row only; one row with no order when none exists).
WITH wanted AS (
    SELECT o.order_id, o.buyer_id, o.buyer_email, o.region, o.locale, o.timezone, o.placed_at, o.status,
           o.decided_at, o.reject_reason, o.received_at, l.line_id, l.position, l.sku_id, l.qty, l.seller_id, l.state,
           l.seller_region, l.seller_timezone, l.handling_days, l.due_at, l.late_at, l.shipped_at, l.tracking_number,
           l.delivered_at, l.cancelled_at, l.cancel_reason, l.replacement, l.shipments
    FROM orders o JOIN order_lines l ON l.order_id = o.order_id
    WHERE o.order_id = any(:order_ids) ORDER BY o.order_id, l.position
), terms AS (
    SELECT jsonb_agg(jsonb_build_object('sku_id', k.sku_id, 'seller_id', k.seller_id, 'listing_type', k.listing_type,
                                        'handling_days', k.handling_days, 'region', s.region,
                                        'timezone', s.timezone)) AS terms
    FROM skus k LEFT JOIN sellers s USING (seller_id)
    WHERE k.sku_id = any(:sku_ids) OR k.sku_id IN (SELECT sku_id FROM wanted)
)
SELECT w.*, CASE WHEN row_number() OVER (ORDER BY w.order_id, w.position) = 1 THEN t.terms END AS terms
FROM terms t LEFT JOIN wanted w ON true ORDER BY w.order_id, w.position;

-- name: lock_orders_and_terms
-- ``lock_orders`` and ``sku_terms`` in one read, as ``orders_and_terms``. The terms are read in the statement's
-- snapshot, which may be older than the orders' locks: a catalog change racing an order's decision is seen
-- by the next one, as it would be a moment later.
WITH wanted AS (
    SELECT o.order_id, o.buyer_id, o.buyer_email, o.region, o.locale, o.timezone, o.placed_at, o.status,
           o.decided_at, o.reject_reason, o.received_at, l.line_id, l.position, l.sku_id, l.qty, l.seller_id, l.state,
           l.seller_region, l.seller_timezone, l.handling_days, l.due_at, l.late_at, l.shipped_at, l.tracking_number,
           l.delivered_at, l.cancelled_at, l.cancel_reason, l.replacement, l.shipments
    FROM orders o JOIN order_lines l ON l.order_id = o.order_id
    WHERE o.order_id = any(:order_ids) ORDER BY o.order_id, l.position FOR UPDATE
), terms AS (
    SELECT jsonb_agg(jsonb_build_object('sku_id', k.sku_id, 'seller_id', k.seller_id, 'listing_type', k.listing_type,
                                        'handling_days', k.handling_days, 'region', s.region,
                                        'timezone', s.timezone)) AS terms
    FROM skus k LEFT JOIN sellers s USING (seller_id)
    WHERE k.sku_id = any(:sku_ids) OR k.sku_id IN (SELECT sku_id FROM wanted)
)
SELECT w.*, CASE WHEN row_number() OVER (ORDER BY w.order_id, w.position) = 1 THEN t.terms END AS terms
FROM terms t LEFT JOIN wanted w ON true ORDER BY w.order_id, w.position;

-- name: get_parts
SELECT order_id, line_id, part_no, warehouse_id, source, qty, released_qty, ship_by, estimated_delivery
FROM order_parts WHERE order_id = any(:order_ids) ORDER BY order_id, line_id, part_no;

-- Orders are written with their lines and parts as staged writes (shared/persistence/staging.py): each takes
-- its rows as one JSON array, and they ride one statement whatever their number. Each order appears once, each
-- line and part once.

-- name: stage_new_orders!
-- New orders (an order that exists already is an error).
INSERT INTO orders (order_id, buyer_id, buyer_email, region, locale, timezone, placed_at, status, tags,
                    correlation_id, received_at)
SELECT order_id, buyer_id, buyer_email, region, locale, timezone, placed_at, status, tags, correlation_id,
       received_at
FROM jsonb_to_recordset(:rows::jsonb) AS r(
    order_id text, buyer_id text, buyer_email text, region text, locale text, timezone text,
    placed_at timestamptz, status text, tags text[], correlation_id uuid, received_at timestamptz);

-- name: stage_changed_orders!
UPDATE orders o SET status = r.status, tags = r.tags, decided_at = r.decided_at,
                    reject_reason = r.reject_reason, updated_at = now()
FROM jsonb_to_recordset(:rows::jsonb) AS r(
    order_id text, status text, tags text[], decided_at timestamptz, reject_reason text)
WHERE o.order_id = r.order_id;

-- name: stage_lines!
-- late_at is written by the SLA clock only, never here.
INSERT INTO order_lines (order_id, line_id, position, sku_id, qty, seller_id, state, seller_region,
                         seller_timezone, handling_days, due_at, shipped_at, tracking_number, delivered_at,
                         cancelled_at, cancel_reason, replacement, shipments)
SELECT order_id, line_id, position, sku_id, qty, seller_id, state, seller_region, seller_timezone, handling_days,
       due_at, shipped_at, tracking_number, delivered_at, cancelled_at, cancel_reason, replacement, shipments
FROM jsonb_to_recordset(:rows::jsonb) AS r(
    order_id text, line_id text, position int, sku_id text, qty int, seller_id text, state text,
    seller_region text, seller_timezone text, handling_days int, due_at timestamptz, shipped_at timestamptz,
    tracking_number text, delivered_at timestamptz, cancelled_at timestamptz, cancel_reason text,
    replacement text, shipments jsonb)
ON CONFLICT (order_id, line_id) DO UPDATE
SET seller_id = excluded.seller_id, state = excluded.state, seller_region = excluded.seller_region,
    seller_timezone = excluded.seller_timezone, handling_days = excluded.handling_days,
    due_at = excluded.due_at, shipped_at = excluded.shipped_at, tracking_number = excluded.tracking_number,
    delivered_at = excluded.delivered_at, cancelled_at = excluded.cancelled_at,
    cancel_reason = excluded.cancel_reason, replacement = excluded.replacement, shipments = excluded.shipments;

-- name: stage_parts!
INSERT INTO order_parts (order_id, line_id, part_no, warehouse_id, source, qty, released_qty, ship_by,
                         estimated_delivery)
SELECT order_id, line_id, part_no, warehouse_id, source, qty, released_qty, ship_by, estimated_delivery
FROM jsonb_to_recordset(:rows::jsonb) AS r(
    order_id text, line_id text, part_no int, warehouse_id text, source text, qty int, released_qty int,
    ship_by date, estimated_delivery date)
ON CONFLICT (order_id, line_id, part_no) DO UPDATE
SET released_qty = excluded.released_qty, ship_by = excluded.ship_by,
    estimated_delivery = excluded.estimated_delivery;

-- name: correlation_of$
SELECT correlation_id FROM orders WHERE order_id = :order_id;

-- name: orders_waiting_for_sku
-- Orders with a line of this SKU still waiting for backorder stock, in a stable order.
SELECT DISTINCT order_id FROM order_lines WHERE sku_id = :sku_id AND state = 'awaiting_stock' ORDER BY order_id;

-- name: record_release<!
-- A release naming a receipt is applied once per receipt, whatever its event id.
INSERT INTO backorder_releases (order_id, line_id, warehouse_id, receipt_id, qty, released_at)
VALUES (:order_id, :line_id, :warehouse_id, :receipt_id, :qty, :released_at)
ON CONFLICT DO NOTHING
RETURNING order_id;

-- ======================================================================== the SLA clock (R15)

-- name: fire_due_lines
-- One statement claims due lines (skipping rows another instance or a handler holds),
-- stamps them late and records the late shipment against the seller. A line leaves the
-- scan the moment late_at is set, and the late_shipments key refuses a second record, so
-- each due line fires once whatever the number of instances or restarts.
WITH due AS (
    SELECT order_id, line_id FROM order_lines
    WHERE late_at IS NULL AND due_at IS NOT NULL AND due_at <= :now
      AND state IN ('awaiting_stock', 'ready_to_ship')
    ORDER BY due_at, order_id, line_id
    LIMIT :limit
    FOR UPDATE SKIP LOCKED
), marked AS (
    UPDATE order_lines l SET late_at = :now
    FROM due WHERE l.order_id = due.order_id AND l.line_id = due.line_id
    RETURNING l.order_id, l.line_id, l.sku_id, l.seller_id, l.due_at
), dates AS (
    SELECT p.order_id, p.line_id, max(p.ship_by) AS ship_by, max(p.estimated_delivery) AS estimated_delivery
    FROM order_parts p JOIN marked m USING (order_id, line_id)
    WHERE p.source = 'backorder'
    GROUP BY p.order_id, p.line_id
), recorded AS (
    INSERT INTO late_shipments (order_id, line_id, seller_id, sku_id, ship_by, due_at, late_at)
    SELECT m.order_id, m.line_id, m.seller_id, m.sku_id, d.ship_by, m.due_at, :now
    FROM marked m JOIN dates d USING (order_id, line_id)
    ON CONFLICT DO NOTHING
    RETURNING order_id, line_id, seller_id, sku_id, ship_by, due_at
)
SELECT r.order_id, r.line_id, r.seller_id, r.sku_id, r.ship_by, d.estimated_delivery, r.due_at,
       o.buyer_id, o.correlation_id
FROM recorded r JOIN dates d USING (order_id, line_id) JOIN orders o USING (order_id)
ORDER BY r.due_at, r.order_id, r.line_id;

-- name: next_due$
SELECT min(due_at) FROM order_lines
WHERE late_at IS NULL AND due_at IS NOT NULL AND state IN ('awaiting_stock', 'ready_to_ship');

-- ======================================================================== catalog read model

-- name: upsert_seller!
INSERT INTO sellers (seller_id, region, timezone) VALUES (:seller_id, :region, :timezone)
ON CONFLICT (seller_id) DO UPDATE SET region = excluded.region, timezone = excluded.timezone, updated_at = now();

-- name: upsert_listing_skus*!
INSERT INTO skus (sku_id, seller_id, listing_id) VALUES (:sku_id, :seller_id, :listing_id)
ON CONFLICT (sku_id) DO UPDATE SET seller_id = excluded.seller_id, listing_id = excluded.listing_id,
                                   updated_at = now();

-- name: lock_sku^
SELECT sku_id, seller_id, listing_id, listing_type, handling_days FROM skus WHERE sku_id = :sku_id FOR UPDATE;

-- name: set_backorder!
INSERT INTO skus (sku_id, seller_id, listing_id, listing_type, handling_days)
VALUES (:sku_id, :seller_id, :listing_id, 'backorder', :handling_days)
ON CONFLICT (sku_id) DO UPDATE SET seller_id = excluded.seller_id, listing_id = excluded.listing_id,
                                   listing_type = 'backorder', handling_days = excluded.handling_days,
                                   updated_at = now();

-- name: set_listing_type!
UPDATE skus SET listing_type = :listing_type, updated_at = now() WHERE sku_id = :sku_id;

-- name: sku_terms
-- What dates a line: the SKU's seller, its region and zone, and the handling time.
SELECT k.sku_id, k.seller_id, k.listing_type, k.handling_days, s.region, s.timezone
FROM skus k LEFT JOIN sellers s USING (seller_id)
WHERE k.sku_id = any(:sku_ids);

-- ======================================================================== stock signals (R18)

-- name: stage_stock!
-- The newest level per SKU and warehouse wins, whatever order the events arrive in (one row per key).
INSERT INTO sku_stock (sku_id, warehouse_id, available_to_promise, as_of)
SELECT sku_id, warehouse_id, available_to_promise, as_of
FROM jsonb_to_recordset(:rows::jsonb) AS r(sku_id text, warehouse_id text, available_to_promise int,
                                           as_of timestamptz)
ON CONFLICT (sku_id, warehouse_id) DO UPDATE
SET available_to_promise = excluded.available_to_promise, as_of = excluded.as_of
WHERE sku_stock.as_of <= excluded.as_of;

-- name: stage_exhausted!
-- One row per SKU.
INSERT INTO sku_exhausted (sku_id, exhausted_at)
SELECT sku_id, exhausted_at FROM jsonb_to_recordset(:rows::jsonb) AS r(sku_id text, exhausted_at timestamptz)
ON CONFLICT (sku_id) DO UPDATE SET exhausted_at = greatest(sku_exhausted.exhausted_at, excluded.exhausted_at);

-- name: stock_status^
-- The SKU-wide level (warehouse '*') when inventory reported one, else the sum over warehouses.
SELECT coalesce(
           (SELECT available_to_promise FROM sku_stock WHERE sku_id = :sku_id AND warehouse_id = '*'),
           (SELECT sum(available_to_promise) FROM sku_stock WHERE sku_id = :sku_id AND warehouse_id <> '*')
       ) AS available_to_promise,
       (SELECT max(as_of) FROM sku_stock WHERE sku_id = :sku_id) AS levels_as_of,
       (SELECT exhausted_at FROM sku_exhausted WHERE sku_id = :sku_id) AS exhausted_at;

-- ======================================================================== read side (operator CLI)

-- name: seller_orders
-- A seller's orders, oldest first (R19), by tag, status and lateness, with a keyset cursor.
-- Status is the order's; the back_order tag and the lines are the seller's own (an order may
-- hold lines of several sellers).
SELECT o.order_id, o.buyer_id, o.status, o.placed_at,
       CASE WHEN bool_or(coalesce(pd.back_order, false) AND l.state <> 'cancelled')
            THEN ARRAY['back_order'] ELSE ARRAY[]::text[] END AS tags,
       bool_or(l.late_at IS NOT NULL) AS late,
       min(pd.ship_by) FILTER (WHERE l.state IN ('awaiting_stock', 'ready_to_ship')) AS next_ship_by,
       jsonb_agg(jsonb_build_object(
           'line_id', l.line_id, 'sku_id', l.sku_id, 'qty', l.qty, 'state', l.state,
           'back_order', coalesce(pd.back_order, false), 'waiting_qty', coalesce(pd.waiting, 0),
           'ship_by', pd.ship_by, 'estimated_delivery', pd.estimated_delivery,
           'late', l.late_at IS NOT NULL, 'late_at', l.late_at, 'tracking_number', l.tracking_number
       ) ORDER BY l.position) AS lines
FROM orders o
JOIN order_lines l ON l.order_id = o.order_id AND l.seller_id = :seller_id
LEFT JOIN LATERAL (
    SELECT max(p.ship_by) AS ship_by, max(p.estimated_delivery) AS estimated_delivery,
           bool_or(p.source = 'backorder') AS back_order,
           sum(CASE WHEN p.source = 'backorder' THEN p.qty - p.released_qty ELSE 0 END) AS waiting
    FROM order_parts p WHERE p.order_id = l.order_id AND p.line_id = l.line_id
) pd ON true
WHERE (CAST(:status AS text) IS NULL OR o.status = CAST(:status AS text))
  AND (CAST(:after_placed_at AS timestamptz) IS NULL
       OR (o.placed_at, o.order_id) > (CAST(:after_placed_at AS timestamptz), CAST(:after_order_id AS text)))
GROUP BY o.order_id
HAVING (CAST(:late AS boolean) IS NULL OR bool_or(l.late_at IS NOT NULL) = CAST(:late AS boolean))
   AND (CAST(:tag AS text) IS NULL
        OR (CAST(:tag AS text) = 'back_order'
            AND bool_or(coalesce(pd.back_order, false) AND l.state <> 'cancelled')))
ORDER BY o.placed_at, o.order_id
LIMIT :limit;

-- name: seller_stats^
SELECT (SELECT count(*) FROM late_shipments WHERE seller_id = :seller_id) AS late_shipments,
       (SELECT count(*) FROM order_lines WHERE seller_id = :seller_id AND state = 'awaiting_stock')
           AS lines_awaiting_stock,
       (SELECT count(*) FROM order_lines WHERE seller_id = :seller_id
           AND state IN ('awaiting_stock', 'ready_to_ship') AND late_at IS NOT NULL) AS open_late_lines;

-- name: sku_view^
SELECT k.sku_id, k.seller_id, k.listing_id, k.listing_type, k.handling_days, s.region, s.timezone
FROM skus k LEFT JOIN sellers s USING (seller_id) WHERE k.sku_id = :sku_id;

-- name: kpi_counts
-- Counts behind the KPIs (R23, R33), per seller and overall (seller_id '*'); see kpis.py for definitions.
-- A seller appears once it has an accepted order or lost demand.
WITH lines AS (
    SELECT l.order_id, coalesce(l.seller_id, '?') AS seller_id, l.state, l.late_at, o.placed_at,
           EXISTS (SELECT 1 FROM order_parts p
                   WHERE p.order_id = l.order_id AND p.line_id = l.line_id AND p.source = 'backorder') AS backordered
    FROM order_lines l JOIN orders o USING (order_id)
    WHERE o.decided_at IS NOT NULL AND o.status <> 'rejected'
),
per_order AS (
    SELECT coalesce(seller_id, '*') AS seller_id, order_id,
           bool_or(backordered) AS backordered,
           bool_and(state IN ('shipped', 'delivered', 'cancelled')) AS closed,
           bool_and(state IN ('shipped', 'delivered') AND late_at IS NULL) AS filled
    FROM lines GROUP BY GROUPING SETS ((seller_id, order_id), (order_id))
),
orders_count AS (
    SELECT seller_id, count(*) AS orders, count(*) FILTER (WHERE backordered) AS backordered_orders,
           count(*) FILTER (WHERE closed) AS closed_orders, count(*) FILTER (WHERE closed AND filled) AS filled_orders
    FROM per_order GROUP BY seller_id
),
lines_count AS (
    SELECT coalesce(seller_id, '*') AS seller_id, count(*) AS lines,
           count(*) FILTER (WHERE backordered) AS backordered_lines,
           count(*) FILTER (WHERE backordered AND late_at IS NOT NULL) AS late_lines,
           count(*) FILTER (WHERE state = 'cancelled') AS cancelled_lines,
           count(*) FILTER (WHERE backordered AND state = 'cancelled') AS cancelled_backordered_lines,
           coalesce(avg(extract(epoch FROM :now - placed_at) / 86400.0)
                    FILTER (WHERE backordered AND state IN ('awaiting_stock', 'ready_to_ship')), 0)
               AS open_backorder_age_days
    FROM lines GROUP BY GROUPING SETS ((seller_id), ())
),
lost AS (
    SELECT coalesce(seller_id, '*') AS seller_id, count(DISTINCT order_id) AS lost_orders,
           coalesce(sum(qty), 0) AS lost_units
    FROM (SELECT coalesce(seller_id, '?') AS seller_id, order_id, qty FROM lost_demand) d
    GROUP BY GROUPING SETS ((seller_id), ())
),
sellers AS (
    SELECT seller_id FROM orders_count UNION SELECT seller_id FROM lost WHERE lost_orders > 0
)
SELECT s.seller_id, coalesce(o.orders, 0) AS orders, coalesce(o.backordered_orders, 0) AS backordered_orders,
       coalesce(o.filled_orders, 0) AS filled_orders, coalesce(o.closed_orders, 0) AS closed_orders,
       coalesce(l.lines, 0) AS lines, coalesce(l.backordered_lines, 0) AS backordered_lines,
       coalesce(l.late_lines, 0) AS late_lines, coalesce(l.cancelled_lines, 0) AS cancelled_lines,
       coalesce(l.cancelled_backordered_lines, 0) AS cancelled_backordered_lines,
       coalesce(l.open_backorder_age_days, 0)::float8 AS open_backorder_age_days,
       coalesce(d.lost_orders, 0) AS lost_orders, coalesce(d.lost_units, 0)::bigint AS lost_units
FROM sellers s
LEFT JOIN orders_count o USING (seller_id)
LEFT JOIN lines_count l USING (seller_id)
LEFT JOIN lost d USING (seller_id)
ORDER BY s.seller_id = '*' DESC, s.seller_id;

-- name: stage_lost_demand!
-- R33: a line an allocation refused out of stock; written with the rejection, once per line.
INSERT INTO lost_demand (order_id, line_id, sku_id, seller_id, qty, rejected_at)
SELECT order_id, line_id, sku_id, seller_id, qty, rejected_at
FROM jsonb_to_recordset(:rows::jsonb) AS r(order_id text, line_id text, sku_id text, seller_id text, qty int,
                                           rejected_at timestamptz)
ON CONFLICT (order_id, line_id) DO NOTHING;

-- name: lost_demand
-- R33: orders and units rejected out of stock per SKU and seller, the most units first.
SELECT coalesce(seller_id, '?') AS seller_id, sku_id, count(DISTINCT order_id) AS orders, sum(qty)::bigint AS units
FROM lost_demand
WHERE CAST(:seller_id AS text) IS NULL OR seller_id = CAST(:seller_id AS text)
GROUP BY 1, 2
ORDER BY units DESC, seller_id, sku_id
LIMIT :limit;

-- name: buyer_order_ids
-- A buyer's orders, newest first (R26), after a keyset cursor (placed_at, order_id).
SELECT order_id, placed_at FROM orders
WHERE buyer_id = :buyer_id
  AND (CAST(:after_placed_at AS timestamptz) IS NULL
       OR (placed_at, order_id) < (CAST(:after_placed_at AS timestamptz), CAST(:after_order_id AS text)))
ORDER BY placed_at DESC, order_id DESC
LIMIT :limit;
