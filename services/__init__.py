"""The four services. Each owns its database and talks to the others only over Kafka."""
