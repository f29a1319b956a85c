"""The embedded development and test stack: Kafka (Tansu), PostgreSQL, SMTP, the services."""
