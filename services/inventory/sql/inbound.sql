-- Expected inbound stock and projected fill dates (R28). Written only while the SKU is locked.

-- name: get_inbound^
SELECT inbound_id, sku_id, warehouse_id, qty, received, expected_on, state FROM inbounds
WHERE inbound_id = :inbound_id;

-- name: insert_inbound!
INSERT INTO inbounds (inbound_id, sku_id, warehouse_id, qty, expected_on)
VALUES (:inbound_id, :sku_id, :warehouse_id, :qty, :expected_on);

-- name: update_inbound!
UPDATE inbounds SET qty = :qty, expected_on = :expected_on, received = :received, state = :state,
       updated_at = now()
WHERE inbound_id = :inbound_id;

-- name: warehouse_known$
SELECT EXISTS (SELECT 1 FROM stock_levels WHERE warehouse_id = :warehouse_id);

-- name: open_inbounds
-- The SKU's open inbounds in order of arrival (then of announcement).
SELECT inbound_id, warehouse_id, qty - received AS remaining, expected_on FROM inbounds
WHERE sku_id = :sku_id AND state = 'open' ORDER BY expected_on, seq;

-- name: sku_inbounds
SELECT inbound_id, warehouse_id, qty, received, expected_on, state FROM inbounds
WHERE sku_id = :sku_id ORDER BY expected_on, seq;

-- name: waiting_queue
-- The SKU's whole restock queue, every warehouse, in queue order (R11, R19), with its projection. One
-- order across warehouses: each warehouse's own queue keeps its order in it, and a pool of warehouses that
-- share their stock (R31) is walked as one queue.
SELECT order_id, line_id, part_no, warehouse_id, qty, projected_on, projected_inbound FROM allocation_parts
WHERE sku_id = :sku_id AND state = 'waiting'
ORDER BY priority DESC, placed_at, seq;

-- name: projected_parts
-- The waiting parts of a SKU that carry a projection, in queue order (the only ones that can move when
-- nothing is inbound).
SELECT order_id, line_id, part_no, warehouse_id, qty, projected_on, projected_inbound FROM allocation_parts
WHERE sku_id = :sku_id AND state = 'waiting' AND (projected_on IS NOT NULL OR projected_inbound IS NOT NULL)
ORDER BY priority DESC, placed_at, seq;

-- name: set_projections!
UPDATE allocation_parts p SET projected_on = d.projected_on, projected_inbound = d.inbound_id
FROM unnest(:order_ids::text[], :line_ids::text[], :part_nos::int[], :dates::date[], :inbound_ids::text[])
     AS d(order_id, line_id, part_no, projected_on, inbound_id)
WHERE p.order_id = d.order_id AND p.line_id = d.line_id AND p.part_no = d.part_no;

-- name: reprojection_inputs
-- What re-projecting these SKUs needs, in one read: each SKU's open inbounds in order of arrival (then of
-- announcement), and its waiting parts in queue order: all of them when something is inbound, else only those
-- that carry a projection (the only ones that can move). One row shape for both kinds (``kind``), so that a
-- batch's SKUs cost one round trip, not two per SKU.
WITH open AS (
    SELECT sku_id, inbound_id, warehouse_id, qty - received AS remaining, expected_on,
           row_number() OVER (PARTITION BY sku_id ORDER BY expected_on, seq) AS n
    FROM inbounds WHERE sku_id = any(:sku_ids) AND state = 'open'),
queued AS (
    SELECT p.sku_id, p.order_id, p.line_id, p.part_no, p.warehouse_id, p.qty, p.projected_on, p.projected_inbound,
           row_number() OVER (PARTITION BY p.sku_id ORDER BY p.priority DESC, p.placed_at, p.seq) AS n
    FROM allocation_parts p
    WHERE p.sku_id = any(:sku_ids) AND p.state = 'waiting'
      AND (p.projected_on IS NOT NULL OR p.projected_inbound IS NOT NULL
           OR EXISTS (SELECT FROM open o WHERE o.sku_id = p.sku_id)))
SELECT 'inbound' AS kind, sku_id, n, inbound_id, warehouse_id, remaining AS qty, expected_on,
       NULL::text AS order_id, NULL::text AS line_id, NULL::int AS part_no, NULL::date AS projected_on,
       NULL::text AS projected_inbound
FROM open
UNION ALL
SELECT 'part', sku_id, n, NULL, warehouse_id, qty, NULL, order_id, line_id, part_no, projected_on, projected_inbound
FROM queued
ORDER BY sku_id, kind, n;
