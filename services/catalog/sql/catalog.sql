-- ---------------------------------------------------------------- sellers

-- name: get_seller^
SELECT seller_id, region, timezone, backorder_eligible, backorder_revoked_at, email FROM sellers WHERE seller_id = :seller_id;

-- name: lock_seller^
-- Every change to a seller's listings and SKUs takes this row lock first, so the cap checks and
-- writes of concurrent commands (from any number of instances) are serialised per seller.
SELECT seller_id, region, timezone, backorder_eligible, backorder_revoked_at, email
FROM sellers WHERE seller_id = :seller_id FOR UPDATE;

-- name: upsert_seller!
INSERT INTO sellers (seller_id, region, timezone, backorder_eligible, backorder_revoked_at, email)
VALUES (:seller_id, :region, :timezone, :backorder_eligible, :backorder_revoked_at, :email)
ON CONFLICT (seller_id) DO UPDATE
SET region = excluded.region, timezone = excluded.timezone, backorder_eligible = excluded.backorder_eligible,
    backorder_revoked_at = excluded.backorder_revoked_at, email = excluded.email, updated_at = now();

-- ---------------------------------------------------------------- listings

-- name: get_listing^
SELECT listing_id, seller_id, category, title FROM listings WHERE listing_id = :listing_id;

-- name: upsert_listing!
INSERT INTO listings (listing_id, seller_id, category, title)
VALUES (:listing_id, :seller_id, :category, :title)
ON CONFLICT (listing_id) DO UPDATE
SET category = excluded.category, title = excluded.title, updated_at = now();

-- name: listing_on_backorder$
SELECT EXISTS (SELECT 1 FROM skus WHERE listing_id = :listing_id AND listing_type = 'backorder');

-- ---------------------------------------------------------------- SKUs

-- name: get_skus
SELECT sku_id, listing_id, seller_id, listing_type, handling_days, backorder_stock, delisted_at
FROM skus WHERE sku_id = any(:sku_ids::text[]);

-- name: get_sku^
SELECT sku_id, listing_id, seller_id, listing_type, handling_days, backorder_stock, delisted_at
FROM skus WHERE sku_id = :sku_id;

-- name: listed_skus
SELECT sku_id, listing_id, seller_id, listing_type, handling_days, backorder_stock, delisted_at
FROM skus WHERE listing_id = :listing_id AND delisted_at IS NULL ORDER BY sku_id;

-- name: claim_skus
-- New SKUs join the listing as regular; a delisted SKU of the same seller is listed again here.
-- A SKU of another seller, or listed in another listing, is left alone and not returned: the
-- unique key makes a concurrent claim of a new id wait for the first and then see it.
INSERT INTO skus (sku_id, listing_id, seller_id)
SELECT unnest(:sku_ids::text[]), :listing_id, :seller_id
ON CONFLICT (sku_id) DO UPDATE
SET listing_id = excluded.listing_id, delisted_at = NULL, updated_at = now()
WHERE skus.seller_id = excluded.seller_id
  AND (skus.listing_id = excluded.listing_id OR skus.delisted_at IS NOT NULL)
RETURNING sku_id;

-- name: delist_skus!
UPDATE skus SET delisted_at = now(), listing_type = 'regular', handling_days = NULL,
                backorder_stock = '[]'::jsonb, updated_at = now()
WHERE sku_id = any(:sku_ids::text[]) AND delisted_at IS NULL;

-- name: set_backorder!
UPDATE skus SET listing_type = 'backorder', handling_days = :handling_days,
                backorder_stock = :backorder_stock, updated_at = now()
WHERE sku_id = :sku_id AND delisted_at IS NULL;

-- name: set_listing_type!
UPDATE skus SET listing_type = :listing_type, handling_days = NULL, backorder_stock = '[]'::jsonb,
                updated_at = now()
WHERE sku_id = :sku_id AND delisted_at IS NULL;

-- name: backorder_usage^
-- What a seller has on backorder: listings with at least one backorder SKU (R03) and SKUs (R04).
SELECT count(DISTINCT listing_id) AS listings, count(*) AS skus
FROM skus WHERE seller_id = :seller_id AND listing_type = 'backorder';

-- ---------------------------------------------------------------- read side (operator CLI)

-- name: list_listings
-- A seller's listings with their listed SKUs; ``back_order`` is the "Back order" label (R06).
SELECT l.listing_id, l.category, l.title,
       bool_or(s.listing_type = 'backorder') AS back_order,
       jsonb_agg(jsonb_build_object('sku_id', s.sku_id, 'listing_type', s.listing_type,
                                    'handling_days', s.handling_days, 'backorder_stock', s.backorder_stock)
                 ORDER BY s.sku_id) AS skus
FROM listings l JOIN skus s ON s.listing_id = l.listing_id AND s.delisted_at IS NULL
WHERE l.seller_id = :seller_id
GROUP BY l.listing_id, l.category, l.title
HAVING (NOT :back_order_only::boolean OR bool_or(s.listing_type = 'backorder'))
ORDER BY l.listing_id;

-- name: sku_details^
SELECT s.sku_id, s.listing_id, s.seller_id, s.listing_type, s.handling_days, s.backorder_stock,
       s.delisted_at IS NOT NULL AS delisted, l.category, l.title
FROM skus s JOIN listings l ON l.listing_id = s.listing_id WHERE s.sku_id = :sku_id;
