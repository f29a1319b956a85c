-- ------------------------------------------------------------ what we know of orders

-- name: get_buyer_order^
SELECT order_id, buyer_id, buyer_email, region, locale, timezone, placed_at
FROM buyer_orders WHERE order_id = :order_id;

-- name: get_buyer_orders
SELECT order_id, buyer_id, buyer_email, region, locale, timezone, placed_at
FROM buyer_orders WHERE order_id = any(:order_ids);

-- name: stage_buyers!
-- Buyers of orders (a staged write). A buyer already stored, or named twice, keeps the first.
INSERT INTO buyer_orders (order_id, buyer_id, buyer_email, region, locale, timezone, placed_at)
SELECT order_id, buyer_id, buyer_email, region, locale, timezone, placed_at
FROM ROWS FROM (jsonb_to_recordset(:rows::jsonb) AS (order_id text, buyer_id text, buyer_email text, region text,
                locale text, timezone text, placed_at timestamptz)) WITH ORDINALITY
     AS b(order_id, buyer_id, buyer_email, region, locale, timezone, placed_at, n)
ORDER BY n
ON CONFLICT (order_id) DO NOTHING;

-- name: stage_lines!
-- Order lines (a staged write). A line's dates move forward only: an update older than what is stored (a
-- replay) is ignored. A line named twice must come once (the caller keeps the newest dates, the later of two
-- equal).
INSERT INTO order_lines (order_id, line_id, sku_id, qty, backorder_qty, ship_by, estimated_delivery, dates_as_of)
SELECT order_id, line_id, sku_id, qty, backorder_qty, ship_by, estimated_delivery, dates_as_of
FROM jsonb_to_recordset(:rows::jsonb) AS r(order_id text, line_id text, sku_id text, qty int, backorder_qty int,
                                           ship_by date, estimated_delivery date, dates_as_of timestamptz)
ON CONFLICT (order_id, line_id) DO UPDATE
SET sku_id = excluded.sku_id, qty = excluded.qty, backorder_qty = excluded.backorder_qty,
    ship_by = excluded.ship_by, estimated_delivery = excluded.estimated_delivery,
    dates_as_of = excluded.dates_as_of
WHERE order_lines.dates_as_of <= excluded.dates_as_of;

-- name: get_lines
SELECT line_id, sku_id, qty, backorder_qty, ship_by, estimated_delivery
FROM order_lines WHERE order_id = :order_id ORDER BY line_id;

-- ------------------------------------------------------------ what we know of sellers (R32)

-- name: save_seller!
INSERT INTO sellers (seller_id, email, region, timezone)
VALUES (:seller_id, :email, :region, :timezone)
ON CONFLICT (seller_id) DO UPDATE
SET email = excluded.email, region = excluded.region, timezone = excluded.timezone, updated_at = now();

-- name: get_seller^
SELECT seller_id, email, region, timezone FROM sellers WHERE seller_id = :seller_id;

-- ------------------------------------------------------------ notifications

-- name: insert_notifications
-- Notifications given as a JSON array of rows; returns the ids of those inserted. An id that exists
-- already (told before, R22) is skipped, and one named twice in the array is inserted once. An email queued
-- wakes the senders at commit.
WITH stored AS (
INSERT INTO notifications (notification_id, order_id, buyer_id, seller_id, sku_id, channel, kind, line_ids, revision,
                           ship_by, estimated_delivery, locale, subject, body_text, body_html, data, status, attempts,
                           next_attempt_at, last_error, caused_by, correlation_id, sent_at, failed_at)
SELECT n.notification_id, n.order_id, n.buyer_id, n.seller_id, n.sku_id, n.channel, n.kind, n.line_ids, n.revision,
       n.ship_by,
       n.estimated_delivery, n.locale, n.subject, n.body_text, n.body_html, n.data, n.status, 0,
       CASE WHEN n.status = 'pending' THEN now() END, n.last_error, n.caused_by, n.correlation_id,
       CASE WHEN n.status = 'sent' THEN now() END, CASE WHEN n.status = 'failed' THEN now() END
FROM jsonb_to_recordset(:rows::jsonb) AS n(
    notification_id uuid, order_id text, buyer_id text, seller_id text, sku_id text, channel text, kind text, line_ids text[], revision text,
    ship_by date, estimated_delivery date, locale text, subject text, body_text text, body_html text, data jsonb,
    status text, last_error text, caused_by uuid, correlation_id uuid)
ON CONFLICT (notification_id) DO NOTHING
RETURNING notification_id, channel, status
), woken AS (
    SELECT pg_notify('notification_email', '') WHERE EXISTS (
        SELECT FROM stored WHERE channel = 'email' AND status = 'pending')
)
SELECT notification_id, (SELECT count(*) FROM woken) AS woken FROM stored;

-- name: claim_emails
-- Due emails (new, to retry, or claimed by a sender whose lease ran out), locked with SKIP LOCKED so
-- concurrent senders take disjoint sets, and leased: next_attempt_at becomes the lease's end.
-- The attempt is counted now, before the send, so a message that crashes its sender cannot loop forever.
WITH due AS (
    SELECT notification_id FROM notifications
    WHERE channel = 'email' AND status IN ('pending', 'sending') AND next_attempt_at <= now()
    ORDER BY next_attempt_at
    LIMIT :limit
    FOR UPDATE SKIP LOCKED
)
UPDATE notifications n
SET status = 'sending', attempts = n.attempts + 1, claim_token = :token,
    next_attempt_at = now() + make_interval(secs => :lease_s)
FROM due
WHERE n.notification_id = due.notification_id
RETURNING n.notification_id, n.order_id, n.buyer_id, n.seller_id, n.sku_id, n.kind, n.line_ids, n.locale, n.subject,
          n.body_text, n.body_html, n.ship_by, n.estimated_delivery, n.attempts, n.caused_by, n.correlation_id,
          n.created_at,
          CASE WHEN n.seller_id IS NOT NULL  -- R32: a seller's alert goes to the seller's address
               THEN (SELECT s.email FROM sellers s WHERE s.seller_id = n.seller_id)
               ELSE (SELECT b.buyer_email FROM buyer_orders b WHERE b.order_id = n.order_id) END AS recipient;

-- name: mark_sent_announced^
-- One statement, so one round trip and its own transaction: the email is marked sent and its
-- NotificationSent written to the outbox (the relays woken at commit, told who wrote), or neither when the
-- claim was lost (``outbox_id`` null).
WITH sent AS (
    UPDATE notifications
    SET status = 'sent', sent_at = now(), claim_token = NULL, next_attempt_at = NULL, last_error = NULL
    WHERE notification_id = :notification_id AND claim_token = :token AND status = 'sending'
    RETURNING notification_id
), written AS (
    INSERT INTO outbox (event_id, topic, message_key, message_type, value, headers)
    SELECT :event_id, :topic, :message_key, :message_type, :value, CAST(:headers AS jsonb) FROM sent
    RETURNING id
), woken AS (SELECT pg_notify('outbox', :notify) FROM written)
SELECT (SELECT id FROM written) AS outbox_id, (SELECT count(*) FROM woken) AS woken;

-- name: mark_retry<!
UPDATE notifications
SET status = 'pending', claim_token = NULL, last_error = :error,
    next_attempt_at = now() + make_interval(secs => :delay_s)
WHERE notification_id = :notification_id AND claim_token = :token AND status = 'sending'
RETURNING notification_id;

-- name: mark_failed<!
UPDATE notifications
SET status = 'failed', failed_at = now(), claim_token = NULL, next_attempt_at = NULL, last_error = :error
WHERE notification_id = :notification_id AND claim_token = :token AND status = 'sending'
RETURNING notification_id;

-- name: release_claim!
-- Claimed but not tried (the batch stopped early): due again at once, the attempt not counted.
UPDATE notifications
SET status = 'pending', attempts = attempts - 1, claim_token = NULL, next_attempt_at = now()
WHERE claim_token = :token AND status = 'sending';

-- name: expire_emails
-- Emails still unsent long after they were due (the SMTP server down for days): failed, to be reported.
UPDATE notifications
SET status = 'failed', failed_at = now(), claim_token = NULL, next_attempt_at = NULL,
    last_error = coalesce(last_error || '; ', '') || 'expired unsent'
WHERE channel = 'email' AND status = 'pending' AND created_at < now() - make_interval(secs => :max_age_s)
RETURNING notification_id, order_id, buyer_id, seller_id, sku_id, kind, attempts, last_error, caused_by, correlation_id;

-- name: email_queue_stats^
SELECT count(*) FILTER (WHERE status = 'pending') AS pending,
       count(*) FILTER (WHERE status = 'sending') AS sending,
       coalesce(extract(epoch FROM now() - min(next_attempt_at) FILTER (WHERE status = 'pending')), 0)
           AS oldest_due_s
FROM notifications WHERE channel = 'email' AND status IN ('pending', 'sending');

-- ------------------------------------------------------------ the inbox and the operators' view

-- name: foreign_app_ids
-- the ids among :notification_ids that are not app messages of this buyer's
SELECT id FROM unnest(:notification_ids::uuid[]) AS given(id)
WHERE NOT EXISTS (SELECT 1 FROM notifications n
                  WHERE n.notification_id = given.id AND n.buyer_id = :buyer_id AND n.channel = 'app');

-- name: mark_read
UPDATE notifications SET read_at = now()
WHERE buyer_id = :buyer_id AND channel = 'app' AND read_at IS NULL
  AND (:notification_ids::uuid[] IS NULL OR notification_id = any(:notification_ids::uuid[]))
RETURNING notification_id;

-- name: list_by_buyer
SELECT notification_id, order_id, buyer_id, channel, kind, status, attempts, line_ids, ship_by,
       estimated_delivery, subject, read_at, created_at, sent_at, next_attempt_at, last_error
FROM notifications
WHERE buyer_id = :buyer_id
  AND (:channel::text IS NULL OR channel = :channel)
  AND (:status::text IS NULL OR status = :status)
  AND (NOT :unread_only OR (channel = 'app' AND read_at IS NULL))
ORDER BY created_at DESC, notification_id
LIMIT :limit;

-- name: list_by_order
SELECT notification_id, order_id, buyer_id, channel, kind, status, attempts, line_ids, ship_by,
       estimated_delivery, subject, read_at, created_at, sent_at, next_attempt_at, last_error
FROM notifications
WHERE order_id = :order_id
ORDER BY created_at, kind, channel
LIMIT :limit;

-- name: list_by_seller
-- R32: a seller's alerts, newest first
SELECT notification_id, order_id, seller_id, sku_id, channel, kind, status, attempts, line_ids, ship_by,
       estimated_delivery, subject, read_at, created_at, sent_at, next_attempt_at, last_error
FROM notifications
WHERE seller_id = :seller_id
  AND (:channel::text IS NULL OR channel = :channel)
ORDER BY created_at DESC, notification_id
LIMIT :limit;

-- name: unread_count$
SELECT count(*) FROM notifications WHERE buyer_id = :buyer_id AND channel = 'app' AND read_at IS NULL;

-- name: get_notification^
SELECT notification_id, order_id, buyer_id, seller_id, sku_id, channel, kind, line_ids, revision, ship_by,
       estimated_delivery, subject, body_text, data, status, attempts, next_attempt_at, last_error, read_at, created_at, sent_at,
       failed_at
FROM notifications WHERE notification_id = :notification_id;
