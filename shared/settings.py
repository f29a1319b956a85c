"""Settings every service reads from its environment (12-factor).

Secrets (SASL password, database URL with password, SMTP password) can also come from
files mounted under ``SECRETS_DIR`` (a Kubernetes Secret volume), never from the repo.
"""

from __future__ import annotations

import os
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


def _secrets_dir() -> str | None:
    path = os.environ.get("SECRETS_DIR", "/run/secrets/backorder")
    return path if os.path.isdir(path) else None


class KafkaSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KAFKA_", secrets_dir=_secrets_dir(), extra="ignore")

    bootstrap_servers: str = "127.0.0.1:9092"
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "SCRAM-SHA-512"
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: str | None = None
    #: the producer's idempotence (with ``acks=all``): a send the client retries after a lost
    #: acknowledgement is written once, in order. The outbox's at-least-once delivery still relies on
    #: the consumers' inbox for a row sent again after a crash.
    enable_idempotence: bool = True
    acks: Literal["all", "1", "0"] = "all"
    client_id_prefix: str = "backorder"
    # consumer group membership: a member that sends no heartbeat for this long is gone, and its partitions
    # move to the others. Shorter detects a crashed instance sooner (the embedded stack uses 6 s).
    session_timeout_ms: int = Field(default=10_000, ge=1_000, le=300_000)
    heartbeat_interval_ms: int = Field(default=3_000, ge=100, le=60_000)
    #: how old the clients' view of the cluster (partition leaders, brokers) may grow before it is asked again.
    #: A broker that stops answering without closing its connections (frozen, or cut off by the network) sends
    #: no error that would trigger a refresh, so this bounds how long a client keeps asking it (aiokafka's
    #: default is 5 minutes)
    metadata_max_age_ms: int = Field(default=30_000, ge=1_000, le=600_000)


class ServiceSettings(BaseSettings):
    """Common to all four services; each service extends it with its own fields."""

    model_config = SettingsConfigDict(secrets_dir=_secrets_dir(), extra="ignore")

    service_name: str = "service"
    database_url: SecretStr = SecretStr("postgresql://postgres@127.0.0.1:5432/postgres")
    db_pool_min: int = 1
    db_pool_max: int = 8
    http_host: str = "127.0.0.1"
    http_port: int = 0
    log_level: str = "INFO"
    log_format: Literal["json", "console"] = "json"

    # consumers
    #: records per consumed batch (one transaction): what a transaction costs is paid once per batch, so
    #: a backlog drains fastest in large ones; past this size the gain is small and the memory a batch
    #: holds keeps growing. Under a light load batches stay small and latency short (figures in
    #: docs/scaling.md, "Figures behind the code's choices")
    consumer_batch_max: int = Field(default=1000, ge=1, le=5000)
    #: how long an idle consumer waits for records before it goes round its loop again; records that
    #: arrive end the wait at once, so a longer wait costs no latency, only fewer idle rounds, and the CPU
    #: those rounds take from the services that have work (figures in docs/scaling.md)
    consumer_batch_timeout_ms: int = Field(default=200, ge=1, le=5000)
    #: how long the broker may hold a fetch that finds no records. Apache Kafka answers it as soon as a
    #: record arrives, so the wait costs no latency: it only sets how often an idle consumer asks, and
    #: with it the broker's requests and CPU while the stack is quiet (figures in docs/scaling.md)
    consumer_fetch_max_wait_ms: int = Field(default=500, ge=1, le=5000)
    #: handled batches' offsets are committed at most this often (0: after every batch). Later is safe:
    #: a consumer that restarts reads again what its inbox skips (see ``shared/messaging/offsets.py``)
    consumer_commit_interval_ms: int = Field(default=100, ge=0, le=10_000)
    handler_max_attempts: int = Field(default=3, ge=1, le=20, description="Tries before a message is dead-lettered")
    handler_retry_base_s: float = 0.05
    # a group id suffix lets a test or an operator start a fresh consumer group (replay)
    consumer_group_suffix: str = ""

    #: how often the broker watch asks the cluster whether it answers (reported on /readyz and /metrics)
    kafka_check_s: float = Field(default=5.0, gt=0, le=300)

    # the outbox relay
    outbox_batch: int = Field(default=500, ge=1, le=10_000)
    outbox_poll_s: float = 0.5
    outbox_retention_h: float = 24.0

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
