-- Orders, their lines and dated parts (R13-R18).
CREATE TABLE orders (
    order_id        text        PRIMARY KEY,
    buyer_id        text        NOT NULL,
    buyer_email     text        NOT NULL,
    region          text        NOT NULL,
    locale          text        NOT NULL,
    timezone        text,
    placed_at       timestamptz NOT NULL,
    status          text        NOT NULL CHECK (status IN ('pending', 'awaiting_shipment', 'partially_shipped',
                                                           'shipped', 'delivered', 'rejected', 'cancelled')),
    tags            text[]      NOT NULL DEFAULT '{}',
    decided_at      timestamptz,
    reject_reason   text,
    -- the correlation id of the PlaceOrder flow, reused by events the SLA clock emits
    correlation_id  uuid,
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX orders_by_buyer ON orders (buyer_id, placed_at);

CREATE TABLE order_lines (
    order_id         text        NOT NULL REFERENCES orders ON DELETE CASCADE,
    line_id          text        NOT NULL,
    position         integer     NOT NULL,
    sku_id           text        NOT NULL,
    qty              integer     NOT NULL CHECK (qty > 0),
    seller_id        text,
    state            text        NOT NULL CHECK (state IN ('pending', 'awaiting_stock', 'ready_to_ship', 'shipped',
                                                           'delivered', 'cancelled', 'rejected')),
    seller_region    text,
    seller_timezone  text,
    handling_days    integer,
    -- the SLA clock (R15): when the line's backorder parts become late, and when they did
    due_at           timestamptz,
    late_at          timestamptz,
    shipped_at       timestamptz,
    tracking_number  text,
    delivered_at     timestamptz,
    cancelled_at     timestamptz,
    cancel_reason    text,
    replacement      text CHECK (replacement IN ('refund', 'replacement')),
    PRIMARY KEY (order_id, line_id)
);
-- seller queries (R13, R19)
CREATE INDEX order_lines_by_seller ON order_lines (seller_id, order_id);
-- the SLA clock scans only what can still become late
CREATE INDEX order_lines_sla_due ON order_lines (due_at)
    WHERE late_at IS NULL AND due_at IS NOT NULL AND state IN ('awaiting_stock', 'ready_to_ship');
-- handling-time extensions re-date the lines still waiting for stock
CREATE INDEX order_lines_waiting_by_sku ON order_lines (sku_id) WHERE state = 'awaiting_stock';

CREATE TABLE order_parts (
    order_id            text    NOT NULL,
    line_id             text    NOT NULL,
    part_no             integer NOT NULL,
    warehouse_id        text    NOT NULL,
    source              text    NOT NULL CHECK (source IN ('regular', 'backorder')),
    qty                 integer NOT NULL CHECK (qty > 0),
    released_qty        integer NOT NULL DEFAULT 0 CHECK (released_qty >= 0 AND released_qty <= qty),
    ship_by             date    NOT NULL,
    estimated_delivery  date    NOT NULL,
    PRIMARY KEY (order_id, line_id, part_no),
    FOREIGN KEY (order_id, line_id) REFERENCES order_lines ON DELETE CASCADE
);

-- Releases that named a receipt: a second BackorderReleased for the same receipt is a duplicate.
CREATE TABLE backorder_releases (
    order_id      text        NOT NULL,
    line_id       text        NOT NULL,
    warehouse_id  text        NOT NULL,
    receipt_id    text        NOT NULL,
    qty           integer     NOT NULL,
    released_at   timestamptz NOT NULL,
    PRIMARY KEY (order_id, line_id, warehouse_id, receipt_id)
);

-- Late shipments recorded against sellers (R15): one row per line, ever.
CREATE TABLE late_shipments (
    order_id   text        NOT NULL,
    line_id    text        NOT NULL,
    seller_id  text,
    sku_id     text        NOT NULL,
    ship_by    date        NOT NULL,
    due_at     timestamptz NOT NULL,
    late_at    timestamptz NOT NULL,
    PRIMARY KEY (order_id, line_id)
);
CREATE INDEX late_shipments_by_seller ON late_shipments (seller_id, late_at);

-- Read model of the catalog (catalog.events).
CREATE TABLE sellers (
    seller_id   text PRIMARY KEY,
    region      text NOT NULL,
    timezone    text NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE skus (
    sku_id         text PRIMARY KEY,
    seller_id      text NOT NULL,
    listing_id     text NOT NULL,
    listing_type   text NOT NULL DEFAULT 'regular',
    -- the last handling time the seller set; kept when the SKU turns regular again
    handling_days  integer,
    updated_at     timestamptz NOT NULL DEFAULT now()
);

-- Stock signals from inventory.events, to tell whether a SKU is out of stock (R18).
CREATE TABLE sku_stock (
    sku_id                text        NOT NULL,
    warehouse_id          text        NOT NULL,
    available_to_promise  integer     NOT NULL,
    as_of                 timestamptz NOT NULL,
    PRIMARY KEY (sku_id, warehouse_id)
);
CREATE TABLE sku_exhausted (
    sku_id        text        PRIMARY KEY,
    exhausted_at  timestamptz NOT NULL
);
