-- R32: sellers are told of their SKUs' stock (low stock, backorder stock run out) and of uncovered backorders.

-- What the service knows of each seller (from catalog's SellerRegistered): where alerts are emailed.
-- The only place a seller's email address is kept; notifications refer to it by seller_id.
CREATE TABLE sellers (
    seller_id   text PRIMARY KEY,
    email       text,
    region      text NOT NULL,
    timezone    text,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- A notification goes to a buyer (buyer_id, about an order) or to a seller (seller_id, about a SKU and,
-- for an uncovered backorder, an order): exactly one recipient.
ALTER TABLE notifications
    ALTER COLUMN order_id DROP NOT NULL,
    ALTER COLUMN buyer_id DROP NOT NULL,
    ADD COLUMN seller_id text,
    ADD COLUMN sku_id text,
    ADD CONSTRAINT notifications_one_recipient CHECK ((buyer_id IS NULL) <> (seller_id IS NULL)),
    ADD CONSTRAINT notifications_buyer_about_order CHECK (buyer_id IS NULL OR order_id IS NOT NULL);
CREATE INDEX notifications_by_seller ON notifications (seller_id, created_at DESC) WHERE seller_id IS NOT NULL;
