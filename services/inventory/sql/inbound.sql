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
