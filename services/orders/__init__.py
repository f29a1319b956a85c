"""Orders: order and line status, business-day ship-by dates, the handling-time SLA clock,
split shipments, cancellations and refund-only replacements (R13-R19)."""
