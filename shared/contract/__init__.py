"""The event contract shared by every service: envelope, messages, topics."""

from .envelope import CONTRACT_VERSION, Envelope, Payload, Principal, RawEnvelope, utcnow
from .topics import ALL_TOPICS, TOPICS_BY_NAME, Topic

__all__ = [
    "ALL_TOPICS",
    "CONTRACT_VERSION",
    "TOPICS_BY_NAME",
    "Envelope",
    "Payload",
    "Principal",
    "RawEnvelope",
    "Topic",
    "utcnow",
]
