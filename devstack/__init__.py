"""The embedded development and test stack: Apache Kafka, PostgreSQL, SMTP, the services."""
