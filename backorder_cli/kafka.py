"""The CLI's Kafka clients, with the same transport security settings as the services
(``KAFKA_SECURITY_PROTOCOL``, ``KAFKA_SASL_*``, ``KAFKA_SSL_CAFILE``)."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from backorder_cli.config import bootstrap_servers
from shared.contract.envelope import Envelope, Payload, Principal
from shared.contract.topics import command_topic_of
from shared.messaging.broker import aiokafka_security
from shared.settings import KafkaSettings


def settings() -> KafkaSettings:
    return KafkaSettings(bootstrap_servers=bootstrap_servers())


def producer() -> AIOKafkaProducer:
    config = settings()
    return AIOKafkaProducer(bootstrap_servers=config.bootstrap_servers, acks="all", **aiokafka_security(config))


def consumer() -> AIOKafkaConsumer:
    config = settings()
    return AIOKafkaConsumer(bootstrap_servers=config.bootstrap_servers, enable_auto_commit=False, group_id=None,
                            **aiokafka_security(config))


async def publish(payload: Payload, principal: Principal | None) -> str:
    """Publish a command on its topic, keyed by its aggregate id; return its event id."""
    topic = command_topic_of(payload.message_type)
    envelope: Envelope[Payload] = Envelope(type=payload.message_type, producer="backorder-cli", principal=principal,
                                           payload=payload)
    client = producer()
    await client.start()
    try:
        key = topic.key_of(payload)
        await client.send_and_wait(topic.name, envelope.model_dump_json().encode(),
                                   key=key.encode() if key else None)
    finally:
        await client.stop()
    return str(envelope.event_id)
