-- name: lock_levels
-- Locks every level row of the given SKUs in one consistent order (no deadlocks).
SELECT sku_id, warehouse_id, on_hand, allocated, backorder_limit, backorder_allocated, priority
FROM stock_levels WHERE sku_id = any(:sku_ids)
ORDER BY sku_id, warehouse_id FOR UPDATE;

-- name: ensure_level!
INSERT INTO stock_levels (sku_id, warehouse_id, priority) VALUES (:sku_id, :warehouse_id, :priority)
ON CONFLICT DO NOTHING;

-- name: get_policies
SELECT sku_id, seller_id, backorder_enabled, safety_stock, low_stock_threshold, low_stock_alerted
FROM sku_policies WHERE sku_id = any(:sku_ids);

-- name: upsert_owner!
INSERT INTO sku_policies (sku_id, seller_id) VALUES (:sku_id, :seller_id)
ON CONFLICT (sku_id) DO UPDATE SET seller_id = excluded.seller_id, updated_at = now();

-- name: set_backorder_enabled!
INSERT INTO sku_policies (sku_id, seller_id, backorder_enabled) VALUES (:sku_id, :seller_id, :enabled)
ON CONFLICT (sku_id) DO UPDATE SET backorder_enabled = excluded.backorder_enabled,
    seller_id = coalesce(excluded.seller_id, sku_policies.seller_id), updated_at = now();

-- name: set_stock_policy!
INSERT INTO sku_policies (sku_id, safety_stock, low_stock_threshold) VALUES (:sku_id, :safety_stock, :threshold)
ON CONFLICT (sku_id) DO UPDATE SET safety_stock = excluded.safety_stock,
    low_stock_threshold = excluded.low_stock_threshold, low_stock_alerted = false, updated_at = now();

-- name: set_low_stock_alerted!
UPDATE sku_policies SET low_stock_alerted = :alerted WHERE sku_id = :sku_id;

-- name: decided_orders
SELECT order_id FROM order_decisions WHERE order_id = any(:order_ids);

-- name: waiting_parts
SELECT order_id, line_id, part_no, qty, priority, placed_at, seq FROM allocation_parts
WHERE sku_id = :sku_id AND warehouse_id = :warehouse_id AND state = 'waiting'
ORDER BY priority DESC, placed_at, seq FOR UPDATE;

-- name: held_parts
SELECT order_id, line_id, part_no, sku_id, warehouse_id, source, qty, state FROM allocation_parts
WHERE order_id = :order_id AND line_id = any(:line_ids) AND state IN ('allocated', 'waiting', 'filled')
ORDER BY sku_id, warehouse_id, line_id, part_no FOR UPDATE;

-- name: set_part_state!
UPDATE allocation_parts SET state = :state WHERE order_id = :order_id AND line_id = :line_id AND part_no = :part_no;

-- name: shrink_part!
UPDATE allocation_parts SET qty = qty - :qty WHERE order_id = :order_id AND line_id = :line_id AND part_no = :part_no;

-- name: next_part_no$
SELECT coalesce(max(part_no), 0) + 1 FROM allocation_parts WHERE order_id = :order_id AND line_id = :line_id;

-- name: insert_receipt<!
INSERT INTO receipts (receipt_id, sku_id, warehouse_id, qty) VALUES (:receipt_id, :sku_id, :warehouse_id, :qty)
ON CONFLICT DO NOTHING RETURNING receipt_id;

-- name: sku_levels
SELECT warehouse_id, on_hand, allocated, backorder_limit, backorder_allocated, priority
FROM stock_levels WHERE sku_id = :sku_id ORDER BY warehouse_id;

-- name: ledger_of_sku
SELECT id, warehouse_id, kind, on_hand, allocated, backorder_limit, backorder_allocated, order_id, line_id,
       cause_id, actor, recorded_at
FROM stock_ledger WHERE sku_id = :sku_id ORDER BY id DESC LIMIT :limit;

-- name: order_parts
SELECT line_id, part_no, sku_id, warehouse_id, source, qty, state FROM allocation_parts
WHERE order_id = :order_id ORDER BY line_id, part_no;

-- name: ledger_mismatches
-- Levels that differ from the sums of their ledger rows (R12). Empty when all is well.
SELECT l.sku_id, l.warehouse_id FROM stock_levels l
LEFT JOIN (
    SELECT sku_id, warehouse_id, sum(on_hand) AS on_hand, sum(allocated) AS allocated,
           sum(backorder_limit) AS backorder_limit, sum(backorder_allocated) AS backorder_allocated
    FROM stock_ledger GROUP BY sku_id, warehouse_id
) s USING (sku_id, warehouse_id)
WHERE (l.on_hand, l.allocated, l.backorder_limit, l.backorder_allocated)
      IS DISTINCT FROM (coalesce(s.on_hand, 0), coalesce(s.allocated, 0),
                        coalesce(s.backorder_limit, 0), coalesce(s.backorder_allocated, 0));

-- name: update_levels*!
UPDATE stock_levels SET on_hand = :on_hand, allocated = :allocated, backorder_limit = :backorder_limit,
       backorder_allocated = :backorder_allocated, updated_at = now()
WHERE sku_id = :sku_id AND warehouse_id = :warehouse_id;

-- name: insert_parts*!
INSERT INTO allocation_parts (order_id, line_id, part_no, sku_id, warehouse_id, source, qty, state, placed_at)
VALUES (:order_id, :line_id, :part_no, :sku_id, :warehouse_id, :source, :qty, :state, :placed_at);

-- name: insert_ledger*!
INSERT INTO stock_ledger (sku_id, warehouse_id, kind, on_hand, allocated, backorder_limit, backorder_allocated,
                          order_id, line_id, cause_id, actor)
VALUES (:sku_id, :warehouse_id, :kind, :on_hand, :allocated, :backorder_limit, :backorder_allocated,
        :order_id, :line_id, :cause_id, :actor);

-- name: insert_decisions*!
INSERT INTO order_decisions (order_id, accepted, placed_at) VALUES (:order_id, :accepted, :placed_at);

-- name: set_priority$
-- An explicit seller priority for an order's waiting parts of a SKU (R19); returns how many changed.
WITH changed AS (
    UPDATE allocation_parts SET priority = :priority
    WHERE order_id = :order_id AND sku_id = :sku_id AND state = 'waiting' RETURNING 1
)
SELECT count(*) FROM changed;
