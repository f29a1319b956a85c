-- What inventory knows of each SKU from the catalog, plus the seller's stock policy (R10).
CREATE TABLE sku_policies (
    sku_id               text PRIMARY KEY,
    seller_id            text,
    backorder_enabled    boolean NOT NULL DEFAULT false,
    safety_stock         integer NOT NULL DEFAULT 0 CHECK (safety_stock >= 0),
    low_stock_threshold  integer CHECK (low_stock_threshold >= 0),
    low_stock_alerted    boolean NOT NULL DEFAULT false,
    updated_at           timestamptz NOT NULL DEFAULT now()
);

-- Current levels per SKU and warehouse. The CHECKs are the no-oversell invariant (R08):
-- a bug that would oversell fails the transaction instead.
CREATE TABLE stock_levels (
    sku_id               text    NOT NULL,
    warehouse_id         text    NOT NULL,
    on_hand              integer NOT NULL DEFAULT 0,
    allocated            integer NOT NULL DEFAULT 0,
    backorder_limit      integer NOT NULL DEFAULT 0,
    backorder_allocated  integer NOT NULL DEFAULT 0,
    priority             integer NOT NULL DEFAULT 100,
    updated_at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (sku_id, warehouse_id),
    CONSTRAINT regular_not_oversold   CHECK (allocated >= 0 AND allocated <= on_hand),
    CONSTRAINT backorder_not_oversold CHECK (backorder_allocated >= 0 AND backorder_allocated <= backorder_limit)
);

-- Append-only ledger of every movement (R12): current levels are the sums of the deltas.
CREATE TABLE stock_ledger (
    id                   bigserial PRIMARY KEY,
    sku_id               text    NOT NULL,
    warehouse_id         text    NOT NULL,
    kind                 text    NOT NULL,
    on_hand              integer NOT NULL DEFAULT 0,
    allocated            integer NOT NULL DEFAULT 0,
    backorder_limit      integer NOT NULL DEFAULT 0,
    backorder_allocated  integer NOT NULL DEFAULT 0,
    order_id             text,
    line_id              text,
    cause_id             text    NOT NULL,
    actor                text,
    recorded_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX stock_ledger_by_level ON stock_ledger (sku_id, warehouse_id, id);

CREATE RULE stock_ledger_no_update AS ON UPDATE TO stock_ledger DO INSTEAD NOTHING;
CREATE RULE stock_ledger_no_delete AS ON DELETE TO stock_ledger DO INSTEAD NOTHING;

-- Every decision on an order, so a replayed OrderPlaced is not allocated twice.
CREATE TABLE order_decisions (
    order_id    text PRIMARY KEY,
    accepted    boolean NOT NULL,
    placed_at   timestamptz NOT NULL,
    decided_at  timestamptz NOT NULL DEFAULT now()
);

-- Allocation parts. state: allocated (regular), waiting / filled (backorder), released, shipped.
CREATE TABLE allocation_parts (
    order_id      text    NOT NULL,
    line_id       text    NOT NULL,
    part_no       integer NOT NULL,
    sku_id        text    NOT NULL,
    warehouse_id  text    NOT NULL,
    source        text    NOT NULL CHECK (source IN ('regular', 'backorder')),
    qty           integer NOT NULL CHECK (qty > 0),
    state         text    NOT NULL CHECK (state IN ('allocated', 'waiting', 'filled', 'released', 'shipped')),
    priority      integer NOT NULL DEFAULT 0,
    placed_at     timestamptz NOT NULL,
    seq           bigserial,
    PRIMARY KEY (order_id, line_id, part_no)
);
-- The restock queue (R11, R19): explicit priority first, then oldest order first.
CREATE INDEX allocation_parts_waiting ON allocation_parts (sku_id, warehouse_id, priority DESC, placed_at, seq)
    WHERE state = 'waiting';

CREATE TABLE receipts (
    receipt_id    text PRIMARY KEY,
    sku_id        text NOT NULL,
    warehouse_id  text NOT NULL,
    qty           integer NOT NULL,
    received_at   timestamptz NOT NULL DEFAULT now()
);
