"""Builds the FastStream Kafka broker: a factory, never at import time.

Transport security is configuration: ``KAFKA_SECURITY_PROTOCOL`` (PLAINTEXT, SSL,
SASL_PLAINTEXT, SASL_SSL), ``KAFKA_SASL_MECHANISM`` (SCRAM-SHA-256/512, PLAIN),
``KAFKA_SASL_USERNAME`` / ``KAFKA_SASL_PASSWORD`` and ``KAFKA_SSL_CAFILE``.
"""

from __future__ import annotations

import ssl
from typing import Any

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


def build_broker(settings: KafkaSettings, *, client_id: str) -> KafkaBroker:
    return KafkaBroker(
        # a list: FastStream hands a string to aiokafka as one host, "h1:p1,h2:p2" included
        [server.strip() for server in settings.bootstrap_servers.split(",") if server.strip()],
        client_id=f"{settings.client_id_prefix}-{client_id}",
        acks="all" if settings.acks == "all" else int(settings.acks),
        enable_idempotence=settings.enable_idempotence,
        linger_ms=2,
        security=build_security(settings),
        request_timeout_ms=15_000,
        metadata_max_age_ms=settings.metadata_max_age_ms,
        logger=None,
    )
