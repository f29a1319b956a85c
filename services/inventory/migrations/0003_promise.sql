-- The buyer's promise (R24) dates parts as orders does: it needs the seller's region and zone
-- and the SKU's backorder handling time, both learnt from catalog.events.
CREATE TABLE sellers (
    seller_id   text PRIMARY KEY,
    region      text NOT NULL,
    timezone    text NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE sku_policies ADD COLUMN handling_days integer;
