CREATE TABLE sellers (
    seller_id           text PRIMARY KEY,
    region              text NOT NULL,
    timezone            text NOT NULL,
    backorder_eligible  boolean NOT NULL,
    updated_at          timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE listings (
    listing_id  text PRIMARY KEY,
    seller_id   text NOT NULL REFERENCES sellers,
    category    text NOT NULL,
    title       text NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX listings_by_seller ON listings (seller_id);

CREATE TABLE skus (
    sku_id          text PRIMARY KEY,
    listing_id      text NOT NULL REFERENCES listings,
    seller_id       text NOT NULL REFERENCES sellers,
    listing_type    text NOT NULL DEFAULT 'regular'
                    CHECK (listing_type IN ('regular', 'backorder', 'pre_order', 'made_to_order')),
    handling_days   integer,
    backorder_stock jsonb NOT NULL DEFAULT '[]',
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (listing_type <> 'backorder' OR handling_days IS NOT NULL)
);
CREATE INDEX skus_backorder_by_seller ON skus (seller_id, listing_id) WHERE listing_type = 'backorder';
