-- R27: each shipment of some of a line's units, [[tracking_number, units], ...], oldest first.
ALTER TABLE order_lines ADD COLUMN shipments jsonb NOT NULL DEFAULT '[]';
