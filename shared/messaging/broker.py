"""Builds the FastStream Kafka broker: a factory, never at import time.

Transport security is configuration: ``KAFKA_SECURITY_PROTOCOL`` (PLAINTEXT, SSL,
SASL_PLAINTEXT, SASL_SSL), ``KAFKA_SASL_MECHANISM`` (SCRAM-SHA-256/512, PLAIN),
``KAFKA_SASL_USERNAME`` / ``KAFKA_SASL_PASSWORD`` and ``KAFKA_SSL_CAFILE``.
"""

from __future__ import annotations

import ssl
from typing import Any

import aiokafka.admin.client
import aiokafka.client
from aiokafka.protocol.metadata import MetadataRequest
from faststream.kafka import KafkaBroker
from faststream.security import SASLPlaintext, SASLScram256, SASLScram512

from shared.settings import KafkaSettings


def _ssl_context(settings: KafkaSettings) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=settings.ssl_cafile)
    return context


def build_security(settings: KafkaSettings) -> Any:
    protocol = settings.security_protocol
    if protocol == "PLAINTEXT":
        return None
    use_ssl = protocol.endswith("SSL")
    context = _ssl_context(settings) if use_ssl else None
    if protocol == "SSL":
        from faststream.security import BaseSecurity

        return BaseSecurity(ssl_context=context, use_ssl=True)
    username = settings.sasl_username or ""
    password = settings.sasl_password.get_secret_value() if settings.sasl_password else ""
    kinds = {"PLAIN": SASLPlaintext, "SCRAM-SHA-256": SASLScram256, "SCRAM-SHA-512": SASLScram512}
    return kinds[settings.sasl_mechanism](username, password, ssl_context=context, use_ssl=use_ssl)


def aiokafka_security(settings: KafkaSettings) -> dict[str, Any]:
    """The same transport security for raw aiokafka clients (topic admin, the CLI, tools)."""
    protocol = settings.security_protocol
    kwargs: dict[str, Any] = {"security_protocol": protocol}
    if protocol.endswith("SSL"):
        kwargs["ssl_context"] = _ssl_context(settings)
    if protocol.startswith("SASL"):
        kwargs["sasl_mechanism"] = settings.sasl_mechanism
        kwargs["sasl_plain_username"] = settings.sasl_username
        kwargs["sasl_plain_password"] = settings.sasl_password.get_secret_value() if settings.sasl_password else None
    return kwargs


class _ExistingTopicsOnly(MetadataRequest):
    """A metadata request that never asks the broker to create the topics it names."""

    def __init__(self, topics: list[str] | None = None, allow_auto_topic_creation: bool | None = False) -> None:
        super().__init__(topics, allow_auto_topic_creation)


def forbid_topic_auto_creation() -> None:
    """Make every aiokafka client of this process ask for metadata without creating topics.

    aiokafka sets ``allow_auto_topic_creation`` on every metadata request (the Java client's
    ``allow.auto.create.topics=false`` has no aiokafka equivalent), so a consumer or producer
    that looks up a missing topic makes a broker with auto-creation on (Tansu; Apache Kafka's
    default) create it with the broker's default partition count and config, not the contract's.
    After a broker restart that lost its topics, that would silently change partition counts.
    Service processes call this at start: topics come from provisioning only (``ensure_topics``,
    ``TopicGuard``, Strimzi ``KafkaTopic`` resources), and a missing topic is an error that is
    retried until it is provisioned.
    """
    aiokafka.client.MetadataRequest = _ExistingTopicsOnly  # type: ignore[attr-defined,misc]
    aiokafka.admin.client.MetadataRequest = _ExistingTopicsOnly  # type: ignore[attr-defined,misc]


def build_broker(settings: KafkaSettings, *, client_id: str) -> KafkaBroker:
    return KafkaBroker(
        settings.bootstrap_servers,
        client_id=f"{settings.client_id_prefix}-{client_id}",
        acks="all" if settings.acks == "all" else int(settings.acks),
        enable_idempotence=settings.enable_idempotence,
        linger_ms=2,
        security=build_security(settings),
        request_timeout_ms=15_000,
        logger=None,
    )


def producer_connections(broker: KafkaBroker) -> tuple[object, ...]:
    """The broker's producer's open connections (aiokafka connection objects), in a fixed order.

    A connection that is still the same object and still open has not seen its broker restart (a
    restart breaks it; aiokafka opens a new object): the topic guard uses that to skip a metadata
    request per outbox batch. Empty when the producer is not started or aiokafka changed its insides,
    which only costs the request again."""
    state = getattr(getattr(broker.config, "producer", None), "_producer", None)
    producer = getattr(state, "producer", None) if state else None
    conns = getattr(getattr(producer, "client", None), "_conns", None)
    if not isinstance(conns, dict):
        return ()
    return tuple(conn for _, conn in sorted(conns.items(), key=lambda item: repr(item[0])) if conn.connected())
