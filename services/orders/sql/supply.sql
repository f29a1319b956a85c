-- R30: auto-cancel policies and the slips of lines.

-- name: set_auto_cancel!
UPDATE sellers SET auto_cancel_days = :days, auto_cancel_second_slip = :second_slip, updated_at = now()
WHERE seller_id = :seller_id;

-- name: auto_cancel_of^
SELECT auto_cancel_days, auto_cancel_second_slip FROM sellers WHERE seller_id = :seller_id;

-- name: record_slip^
-- One more slip of a line (the order is locked); the first one records the ship-by first promised.
INSERT INTO line_slips (order_id, line_id, slips, promised_ship_by) VALUES (:order_id, :line_id, 1, :promised)
ON CONFLICT (order_id, line_id) DO UPDATE SET slips = line_slips.slips + 1
RETURNING slips, promised_ship_by;
