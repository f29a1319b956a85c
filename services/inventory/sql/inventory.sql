-- Lock order, everywhere: sku_policies rows (by sku_id), then stock_levels rows (by sku_id,
-- warehouse_id), then allocation_parts rows. The SKU row is the lock of the whole SKU.

-- name: ensure_sku!
INSERT INTO sku_policies (sku_id) VALUES (:sku_id) ON CONFLICT DO NOTHING;

-- name: lock_skus
-- Locks the SKU rows in one consistent order and returns their policies.
SELECT sku_id, seller_id, backorder_enabled, safety_stock, low_stock_threshold, low_stock_alerted, handling_days,
       transfers_allowed, transfer_warehouses, may_project
FROM sku_policies WHERE sku_id = any(:sku_ids)
ORDER BY sku_id FOR UPDATE;

-- name: ensure_level!
INSERT INTO stock_levels (sku_id, warehouse_id) VALUES (:sku_id, :warehouse_id) ON CONFLICT DO NOTHING;

-- name: lock_levels
-- Every level row of the given SKUs, locked in one consistent order (after their SKU rows).
SELECT sku_id, warehouse_id, on_hand, allocated, backorder_limit, backorder_allocated
FROM stock_levels WHERE sku_id = any(:sku_ids)
ORDER BY sku_id, warehouse_id FOR UPDATE;

-- name: lock_stock
-- ``lock_skus`` and ``lock_levels`` in one read (SKU rows first, in key order: the levels' scan needs all of
-- them), with the ones of ``order_ids`` that are decided already (a decision read here may miss one taken
-- while this waited for a lock: order_decisions' key then refuses the second, and the batch is done again).
-- A SKU's row comes once per level (once with none); no SKU, one row of nulls, which carries ``decided``.
WITH skus AS (
    SELECT sku_id, seller_id, backorder_enabled, safety_stock, low_stock_threshold, low_stock_alerted, handling_days,
           transfers_allowed, transfer_warehouses, level_count, may_project
    FROM sku_policies WHERE sku_id = any(:sku_ids)
    ORDER BY sku_id FOR UPDATE
), levels AS (
    SELECT sku_id, warehouse_id, on_hand, allocated, backorder_limit, backorder_allocated
    FROM stock_levels WHERE sku_id IN (SELECT sku_id FROM skus)
    ORDER BY sku_id, warehouse_id FOR UPDATE
), decided AS (
    SELECT array_agg(order_id) AS decided FROM order_decisions WHERE order_id = any(:order_ids)
)
SELECT s.*, l.warehouse_id, l.on_hand, l.allocated, l.backorder_limit, l.backorder_allocated, d.decided
FROM decided d LEFT JOIN (skus s LEFT JOIN levels l USING (sku_id)) ON true
ORDER BY s.sku_id, l.warehouse_id;

-- name: stage_decisions!
INSERT INTO order_decisions (order_id, accepted, placed_at)
SELECT order_id, accepted, placed_at
FROM jsonb_to_recordset(:rows::jsonb) AS r(order_id text, accepted boolean, placed_at timestamptz);

-- name: stage_parts!
-- In the order given.
INSERT INTO allocation_parts (order_id, line_id, part_no, sku_id, warehouse_id, source, qty, state, placed_at)
SELECT order_id, line_id, part_no, sku_id, warehouse_id, source, qty, state, placed_at
FROM ROWS FROM (jsonb_to_recordset(:rows::jsonb) AS (order_id text, line_id text, part_no int, sku_id text,
                warehouse_id text, source text, qty int, state text, placed_at timestamptz)) WITH ORDINALITY
     AS p(order_id, line_id, part_no, sku_id, warehouse_id, source, qty, state, placed_at, n)
ORDER BY n;

-- name: stage_ledger!
-- In the order given (the ledger's ids follow it).
INSERT INTO stock_ledger (sku_id, warehouse_id, kind, on_hand, allocated, backorder_limit, backorder_allocated,
                          order_id, line_id, cause_id, cause_type, actor)
SELECT sku_id, warehouse_id, kind, on_hand, allocated, backorder_limit, backorder_allocated, order_id, line_id,
       cause_id, cause_type, actor
FROM ROWS FROM (jsonb_to_recordset(:rows::jsonb) AS (sku_id text, warehouse_id text, kind text, on_hand int,
                allocated int, backorder_limit int, backorder_allocated int, order_id text, line_id text,
                cause_id text, cause_type text, actor text)) WITH ORDINALITY
     AS e(sku_id, warehouse_id, kind, on_hand, allocated, backorder_limit, backorder_allocated, order_id, line_id,
          cause_id, cause_type, actor, n)
ORDER BY n;

-- name: stage_level_deltas!
-- The changed levels as deltas (should the locking ever be wrong, the CHECK constraints still see every unit),
-- with their rows as stored, which the store checks against what it decided.
UPDATE stock_levels l
SET on_hand = l.on_hand + d.on_hand, allocated = l.allocated + d.allocated,
    backorder_limit = l.backorder_limit + d.backorder_limit,
    backorder_allocated = l.backorder_allocated + d.backorder_allocated, updated_at = now()
FROM jsonb_to_recordset(:rows::jsonb) AS d(sku_id text, warehouse_id text, on_hand int, allocated int,
                                           backorder_limit int, backorder_allocated int)
WHERE l.sku_id = d.sku_id AND l.warehouse_id = d.warehouse_id
RETURNING l.sku_id, l.warehouse_id, l.on_hand, l.allocated, l.backorder_limit, l.backorder_allocated;

-- name: stage_projection_idle!
-- R28: SKUs whose re-projection found nothing to project, until their inbounds change (0006_one_read_lock.sql).
UPDATE sku_policies p SET may_project = false
FROM jsonb_to_recordset(:rows::jsonb) AS r(sku_id text) WHERE p.sku_id = r.sku_id;

-- name: get_policies
SELECT sku_id, seller_id, backorder_enabled, safety_stock, low_stock_threshold, low_stock_alerted, handling_days,
       transfers_allowed, transfer_warehouses, may_project
FROM sku_policies WHERE sku_id = any(:sku_ids);

-- name: set_owner!
UPDATE sku_policies SET seller_id = :seller_id, updated_at = now() WHERE sku_id = :sku_id;

-- name: set_backorder_enabled!
UPDATE sku_policies SET backorder_enabled = :enabled, seller_id = coalesce(:seller_id, seller_id), updated_at = now()
WHERE sku_id = :sku_id;

-- name: set_handling_days!
UPDATE sku_policies SET handling_days = :handling_days, updated_at = now() WHERE sku_id = :sku_id;

-- name: upsert_seller!
-- Where a seller dates its parts (R14, R24), from SellerRegistered and BackorderActivated.
INSERT INTO sellers (seller_id, region, timezone) VALUES (:seller_id, :region, :timezone)
ON CONFLICT (seller_id) DO UPDATE SET region = excluded.region, timezone = excluded.timezone, updated_at = now();

-- name: seller_of_sku^
SELECT s.region, s.timezone FROM sku_policies p JOIN sellers s USING (seller_id) WHERE p.sku_id = :sku_id;

-- name: set_stock_policy!
UPDATE sku_policies SET safety_stock = :safety_stock, low_stock_threshold = :threshold, low_stock_alerted = false,
       updated_at = now()
WHERE sku_id = :sku_id;

-- name: set_transfer_policy!
-- R31: may a receipt in one warehouse of the pool fill a part waiting in another (null pool: every warehouse).
UPDATE sku_policies SET transfers_allowed = :allowed, transfer_warehouses = :warehouses, updated_at = now()
WHERE sku_id = :sku_id;

-- name: set_low_stock_alerted!
UPDATE sku_policies SET low_stock_alerted = :alerted, updated_at = now() WHERE sku_id = :sku_id;

-- name: decided_orders
SELECT order_id FROM order_decisions WHERE order_id = any(:order_ids);

-- name: waiting_parts
-- The head of the restock queue of one SKU in one warehouse (R11, R19): explicit priority, then
-- oldest placement, then arrival. Every part holds at least one unit, so ``limit`` units fill at
-- most ``limit`` parts.
SELECT order_id, line_id, part_no, qty, priority, placed_at, seq FROM allocation_parts
WHERE sku_id = :sku_id AND warehouse_id = :warehouse_id AND state = 'waiting'
ORDER BY priority DESC, placed_at, seq LIMIT :limit FOR UPDATE;

-- name: waiting_parts_pooled
-- R31: the head of the SKU-wide restock queue over a pool of warehouses, in the same order.
SELECT order_id, line_id, part_no, qty, priority, placed_at, seq, warehouse_id FROM allocation_parts
WHERE sku_id = :sku_id AND warehouse_id = any(:warehouse_ids) AND state = 'waiting'
ORDER BY priority DESC, placed_at, seq LIMIT :limit FOR UPDATE;

-- name: fill_part_from!
-- R31: a waiting part filled whole from another warehouse's stock, which it now ships from.
UPDATE allocation_parts SET state = 'filled', ship_from = :ship_from
WHERE order_id = :order_id AND line_id = :line_id AND part_no = :part_no AND state = 'waiting';

-- name: held_parts
SELECT order_id, line_id, part_no, sku_id, warehouse_id, source, qty, state, ship_from FROM allocation_parts
WHERE order_id = :order_id AND line_id = any(:line_ids) AND state IN ('allocated', 'waiting', 'filled')
ORDER BY sku_id, warehouse_id, line_id, part_no;

-- name: lock_held_parts
SELECT order_id, line_id, part_no, sku_id, warehouse_id, source, qty, state, ship_from FROM allocation_parts
WHERE order_id = :order_id AND line_id = any(:line_ids) AND state IN ('allocated', 'waiting', 'filled')
ORDER BY sku_id, warehouse_id, line_id, part_no FOR UPDATE;

-- name: set_part_state!
UPDATE allocation_parts SET state = :state WHERE order_id = :order_id AND line_id = :line_id AND part_no = :part_no;

-- name: split_part!
-- A partial fill: the filled units become a new ``filled`` part; the rest keeps its place in the queue.
WITH shrunk AS (
    UPDATE allocation_parts SET qty = qty - :qty
    WHERE order_id = :order_id AND line_id = :line_id AND part_no = :part_no AND state = 'waiting' AND qty > :qty
    RETURNING order_id, line_id, sku_id, warehouse_id, source, placed_at
)
INSERT INTO allocation_parts (order_id, line_id, part_no, sku_id, warehouse_id, source, qty, state, placed_at,
                              ship_from)
SELECT s.order_id, s.line_id,
       (SELECT max(part_no) + 1 FROM allocation_parts p WHERE p.order_id = s.order_id AND p.line_id = s.line_id),
       s.sku_id, s.warehouse_id, s.source, :qty, 'filled', s.placed_at, :ship_from
FROM shrunk s;

-- name: ship_some!
-- R27: some units of a held part shipped: they become a new ``shipped`` part, the rest stays held.
WITH shrunk AS (
    UPDATE allocation_parts SET qty = qty - :qty
    WHERE order_id = :order_id AND line_id = :line_id AND part_no = :part_no AND state IN ('allocated', 'filled')
      AND qty > :qty
    RETURNING order_id, line_id, sku_id, warehouse_id, source, placed_at, ship_from
)
INSERT INTO allocation_parts (order_id, line_id, part_no, sku_id, warehouse_id, source, qty, state, placed_at,
                              ship_from)
SELECT s.order_id, s.line_id,
       (SELECT max(part_no) + 1 FROM allocation_parts p WHERE p.order_id = s.order_id AND p.line_id = s.line_id),
       s.sku_id, s.warehouse_id, s.source, :qty, 'shipped', s.placed_at, s.ship_from
FROM shrunk s;

-- name: set_priority$
-- An explicit seller priority for an order's waiting parts of a SKU (R19); returns how many changed.
WITH changed AS (
    UPDATE allocation_parts SET priority = :priority
    WHERE order_id = :order_id AND sku_id = :sku_id AND state = 'waiting' RETURNING 1
)
SELECT count(*) FROM changed;

-- name: insert_receipt<!
INSERT INTO receipts (receipt_id, sku_id, warehouse_id, qty) VALUES (:receipt_id, :sku_id, :warehouse_id, :qty)
ON CONFLICT DO NOTHING RETURNING receipt_id;

-- name: get_receipt^
SELECT receipt_id, sku_id, warehouse_id, qty FROM receipts WHERE receipt_id = :receipt_id;

-- ------------------------------------------------------------------ read side

-- name: sku_levels
SELECT warehouse_id, on_hand, allocated, backorder_limit, backorder_allocated
FROM stock_levels WHERE sku_id = :sku_id ORDER BY warehouse_id;

-- name: ledger_of_sku
SELECT id, warehouse_id, kind, on_hand, allocated, backorder_limit, backorder_allocated, order_id, line_id,
       cause_id, cause_type, actor, recorded_at
FROM stock_ledger WHERE sku_id = :sku_id ORDER BY id DESC LIMIT :limit;

-- name: order_parts
SELECT line_id, part_no, sku_id, warehouse_id, coalesce(ship_from, warehouse_id) AS ship_from, source, qty, state,
       priority, placed_at, projected_on, projected_inbound FROM allocation_parts
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
                        coalesce(s.backorder_limit, 0), coalesce(s.backorder_allocated, 0))
ORDER BY 1, 2;

-- name: parts_mismatches
-- Levels whose allocations differ from the parts that hold them. Empty when all is well. A waiting
-- part holds backorder units in its own warehouse; a held one regular units in the one it ships from (R31).
SELECT l.sku_id, l.warehouse_id FROM stock_levels l
LEFT JOIN (
    SELECT sku_id, CASE WHEN state = 'waiting' THEN warehouse_id ELSE coalesce(ship_from, warehouse_id) END
                   AS warehouse_id,
           sum(qty) FILTER (WHERE state IN ('allocated', 'filled')) AS allocated,
           sum(qty) FILTER (WHERE state = 'waiting') AS backorder_allocated
    FROM allocation_parts WHERE state IN ('allocated', 'waiting', 'filled') GROUP BY 1, 2
) p USING (sku_id, warehouse_id)
WHERE (l.allocated, l.backorder_allocated)
      IS DISTINCT FROM (coalesce(p.allocated, 0), coalesce(p.backorder_allocated, 0))
ORDER BY 1, 2;

-- name: ledger_totals^
SELECT count(*) AS rows, count(DISTINCT (sku_id, warehouse_id)) AS levels FROM stock_ledger;
