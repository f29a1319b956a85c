-- Eligibility revocation is remembered (its rejection says so), SKUs left out of a listing
-- are delisted rather than forgotten, and the table enforces what the handlers promise.

ALTER TABLE sellers ADD COLUMN backorder_revoked_at timestamptz;

ALTER TABLE skus ADD COLUMN delisted_at timestamptz;

-- A SKU belongs to a listing of its own seller.
ALTER TABLE listings ADD CONSTRAINT listings_id_seller UNIQUE (listing_id, seller_id);
ALTER TABLE skus ADD CONSTRAINT skus_listing_of_same_seller
    FOREIGN KEY (listing_id, seller_id) REFERENCES listings (listing_id, seller_id);

-- Only a backorder SKU has backorder settings, and it always has them (R06).
ALTER TABLE skus ADD CONSTRAINT skus_backorder_settings CHECK (
    CASE WHEN listing_type = 'backorder'
         THEN handling_days > 0 AND jsonb_typeof(backorder_stock) = 'array' AND jsonb_array_length(backorder_stock) > 0
         ELSE handling_days IS NULL AND backorder_stock = '[]'::jsonb
    END
);

-- A delisted SKU is regular.
ALTER TABLE skus ADD CONSTRAINT skus_delisted_regular CHECK (delisted_at IS NULL OR listing_type = 'regular');

CREATE INDEX skus_listed_by_listing ON skus (listing_id) WHERE delisted_at IS NULL;
