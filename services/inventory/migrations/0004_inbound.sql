-- Expected inbound stock (R28): a seller's purchase orders and inbound shipments per SKU and
-- warehouse. ``received`` counts the units of receipts that named it; it is open until they
-- reach ``qty`` or it is cancelled.
CREATE TABLE inbounds (
    inbound_id    text PRIMARY KEY,
    sku_id        text    NOT NULL,
    warehouse_id  text    NOT NULL,
    qty           integer NOT NULL CHECK (qty > 0),
    received      integer NOT NULL DEFAULT 0 CHECK (received >= 0),
    expected_on   date    NOT NULL,
    state         text    NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'received', 'cancelled')),
    seq           bigserial,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX inbounds_open ON inbounds (sku_id, warehouse_id, expected_on, seq) WHERE state = 'open';

-- Each waiting part's projected fill day and the inbound behind it (R28); null: none covers it.
ALTER TABLE allocation_parts ADD COLUMN projected_on date, ADD COLUMN projected_inbound text;
