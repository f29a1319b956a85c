-- name: get_seller^
SELECT seller_id, region, timezone, backorder_eligible FROM sellers WHERE seller_id = :seller_id;

-- name: lock_seller^
-- Every change to a seller's backorder set takes this row lock first, so cap checks and
-- writes of concurrent commands (from any number of instances) are serialised per seller.
SELECT seller_id, region, timezone, backorder_eligible FROM sellers WHERE seller_id = :seller_id FOR UPDATE;

-- name: upsert_seller!
INSERT INTO sellers (seller_id, region, timezone, backorder_eligible)
VALUES (:seller_id, :region, :timezone, :backorder_eligible)
ON CONFLICT (seller_id) DO UPDATE
SET region = excluded.region, timezone = excluded.timezone,
    backorder_eligible = excluded.backorder_eligible, updated_at = now();

-- name: set_eligibility!
UPDATE sellers SET backorder_eligible = :backorder_eligible, updated_at = now() WHERE seller_id = :seller_id;

-- name: get_listing^
SELECT listing_id, seller_id, category, title FROM listings WHERE listing_id = :listing_id;

-- name: upsert_listing!
INSERT INTO listings (listing_id, seller_id, category, title)
VALUES (:listing_id, :seller_id, :category, :title)
ON CONFLICT (listing_id) DO UPDATE
SET category = excluded.category, title = excluded.title, updated_at = now();

-- name: get_skus
SELECT sku_id, listing_id, seller_id, listing_type, handling_days FROM skus WHERE sku_id = any(:sku_ids);

-- name: get_sku^
SELECT sku_id, listing_id, seller_id, listing_type, handling_days FROM skus WHERE sku_id = :sku_id;

-- name: insert_sku!
INSERT INTO skus (sku_id, listing_id, seller_id) VALUES (:sku_id, :listing_id, :seller_id)
ON CONFLICT (sku_id) DO NOTHING;

-- name: set_backorder!
UPDATE skus SET listing_type = 'backorder', handling_days = :handling_days,
                backorder_stock = :backorder_stock, updated_at = now()
WHERE sku_id = :sku_id;

-- name: set_listing_type!
UPDATE skus SET listing_type = :listing_type,
                handling_days = CASE WHEN :listing_type = 'backorder' THEN handling_days ELSE NULL END,
                backorder_stock = CASE WHEN :listing_type = 'backorder' THEN backorder_stock ELSE '[]'::jsonb END,
                updated_at = now()
WHERE sku_id = :sku_id;

-- name: backorder_usage^
-- Listings and SKUs a seller has on backorder, leaving out the SKU being changed.
SELECT coalesce(array_agg(DISTINCT listing_id), '{}') AS listings, count(*) AS sku_count
FROM skus WHERE seller_id = :seller_id AND listing_type = 'backorder' AND sku_id <> :sku_id;

-- name: list_listings
SELECT l.listing_id, l.category, l.title,
       bool_or(s.listing_type = 'backorder') AS back_order,
       jsonb_agg(jsonb_build_object('sku_id', s.sku_id, 'listing_type', s.listing_type,
                                    'handling_days', s.handling_days, 'backorder_stock', s.backorder_stock)
                 ORDER BY s.sku_id) AS skus
FROM listings l JOIN skus s USING (listing_id)
WHERE l.seller_id = :seller_id
GROUP BY l.listing_id, l.category, l.title
HAVING (:back_order_only = false OR bool_or(s.listing_type = 'backorder'))
ORDER BY l.listing_id;

-- name: sku_details^
SELECT s.sku_id, s.listing_id, s.seller_id, s.listing_type, s.handling_days, s.backorder_stock,
       l.category, l.title
FROM skus s JOIN listings l USING (listing_id) WHERE s.sku_id = :sku_id;
