-- When each PlaceOrder entered Kafka (its record's timestamp): the start of the decision latency metric.
ALTER TABLE orders ADD COLUMN received_at timestamptz;
