"""Prometheus metrics every service exposes on its HTTP port."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

MESSAGES_HANDLED = Counter(
    "backorder_messages_handled_total", "Messages handled", ["consumer", "topic", "type", "outcome"]
)
HANDLER_LATENCY = Histogram(
    "backorder_handler_batch_seconds",
    "Time to handle one consumed batch, transaction included",
    ["consumer"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
BATCH_FAILURES = Counter(
    "backorder_batch_failures_total",
    "Consumed batches rolled back for a reason that is neither a message's nor the database's (a bug): alert on it",
    ["consumer"],
)
DEAD_LETTERED = Counter("backorder_dead_lettered_total", "Messages sent to a DLQ", ["topic", "reason"])
OUTBOX_PUBLISHED = Counter("backorder_outbox_published_total", "Outbox rows published", ["topic"])
OUTBOX_SEND_FAILURES = Counter(
    "backorder_outbox_send_failures_total",
    "Outbox rows whose send the broker refused or did not acknowledge (they stay unpublished and are sent "
    "again); error TopicAuthorizationFailedError: the service's Kafka user may not write the topic",
    ["topic", "error"],
)
OUTBOX_BACKLOG = Gauge("backorder_outbox_backlog", "Outbox rows not yet published")
OUTBOX_OLDEST_AGE = Gauge("backorder_outbox_oldest_age_seconds", "Age of the oldest unpublished outbox row")
KAFKA_UP = Gauge("backorder_kafka_up", "1 when the broker answered the service's last periodic check")
READY = Gauge("backorder_ready", "1 when the service is ready (database answers, consumers joined)")
SMTP_SEND_FAILURES = Counter(
    "backorder_smtp_send_failures_total",
    "Emails the SMTP server did not take (connection, TLS, authentication, refusal or timeout)",
    ["reason"],
)

# Latencies, lag and refusals (issue 21). Labels are bounded: consumer groups, topics, partitions, message
# types and rejection reasons are fixed sets; no order, SKU, seller or buyer id is ever a label.
HANDLER_DURATION = Histogram(
    "backorder_handler_duration_seconds",
    "Time a run of one message type took in its handler (a batch handler's run counts once), inside the batch's "
    "transaction",
    ["consumer", "type"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
DECISION_LATENCY = Histogram(
    "backorder_order_decision_seconds",
    "From the PlaceOrder record's timestamp (when it entered Kafka) to the staging of OrderAccepted or OrderRejected",
    ["outcome"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
CONSUMER_LAG = Gauge(
    "backorder_consumer_lag_records",
    "Records of a partition not consumed yet by the group (the partition's high watermark minus the position)",
    ["consumer", "topic", "partition"],
)
COMMANDS_REJECTED = Counter(
    "backorder_commands_rejected_total",
    "Commands refused by a business rule (a CommandRejected event emitted), by command type and reason",
    ["consumer", "type", "reason"],
)
OUTBOX_PUBLISH_LATENCY = Histogram(
    "backorder_outbox_publish_seconds",
    "From an outbox row's writing (created_at) to the broker's acknowledgement of its record",
    ["topic"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
