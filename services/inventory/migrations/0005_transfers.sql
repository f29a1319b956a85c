-- Fair release across warehouses (R31). A SKU's transfer policy: while transfers_allowed, the free
-- units of a warehouse in the SKU's pool fill the oldest (or highest-priority) waiting part of the SKU
-- in any warehouse of the pool. transfer_warehouses: the pool; null means every warehouse of the SKU.
ALTER TABLE sku_policies ADD COLUMN transfers_allowed boolean NOT NULL DEFAULT false,
                         ADD COLUMN transfer_warehouses text[];

-- The warehouse a filled part ships from, when a receipt elsewhere filled it (R31); null: its own.
-- A filled part holds ``allocated`` in its ship-from warehouse; while waiting, it holds
-- ``backorder_allocated`` in its own.
ALTER TABLE allocation_parts ADD COLUMN ship_from text;

-- A transfer fill: the receiving warehouse's units reserved for a part waiting in another one, and
-- that one's backorder promise used up (two rows, one per warehouse, both naming the order line).
ALTER TABLE stock_ledger DROP CONSTRAINT stock_ledger_kind;
ALTER TABLE stock_ledger ADD CONSTRAINT stock_ledger_kind CHECK (kind IN (
    'receipt', 'count', 'allocation', 'backorder_allocation', 'backorder_fill', 'backorder_limit',
    'release', 'backorder_release', 'shipment', 'backorder_shipment', 'transfer_fill'));
