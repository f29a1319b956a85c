"""Prometheus metrics of the notifications service (beside the shared ones)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

NOTIFICATIONS = Counter(
    "backorder_notifications_total",
    "Notifications by outcome: created, duplicate (told before, R22), sent, failed",
    ["channel", "kind", "outcome"],
)
EMAIL_ATTEMPTS = Counter(
    "backorder_notification_email_attempts_total", "SMTP deliveries tried, by result", ["result"]
)
EMAIL_SEND_SECONDS = Histogram(
    "backorder_notification_email_send_seconds", "Time to hand one email to the SMTP server",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
EMAIL_QUEUE = Gauge("backorder_notification_email_queue", "Emails waiting in the send queue", ["status"])
EMAIL_OLDEST_DUE_AGE = Gauge(
    "backorder_notification_email_oldest_due_seconds", "How long the most overdue pending email has waited"
)
SMTP_UP = Gauge("backorder_notification_smtp_up", "1 when the last connection to the SMTP server succeeded")
EMAIL_LEASE_LOST = Counter(
    "backorder_notification_email_lease_lost_total",
    "Emails sent after their claim had been taken over (a possible duplicate; should stay 0)",
)
