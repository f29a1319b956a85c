"""Every topic, the messages it carries, and how it is provisioned.

This one table drives decoding (which ``type`` may appear on which topic), topic
creation in the dev stack, the Strimzi ``KafkaTopic`` resources and the
AsyncAPI documents, so they cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .catalog import CATALOG_COMMANDS, CATALOG_EVENTS
from .envelope import Payload
from .inventory import INVENTORY_COMMANDS, INVENTORY_EVENTS
from .notifications import NOTIFICATIONS_COMMANDS, NOTIFICATIONS_EVENTS
from .orders import ORDERS_COMMANDS, ORDERS_EVENTS

DLQ_SUFFIX = ".dlq"


@dataclass(frozen=True)
class Topic:
    name: str
    owner: str
    messages: tuple[type[Payload], ...]
    partitions: int = 6
    retention_ms: int = 7 * 24 * 3600 * 1000
    description: str = ""
    #: the payload field whose value is the Kafka key of commands on this topic (the aggregate id)
    key_field: str | None = None
    _by_type: dict[str, type[Payload]] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self._by_type.update({m.message_type: m for m in self.messages})

    def payload_model(self, message_type: str) -> type[Payload] | None:
        return self._by_type.get(message_type)

    def key_of(self, payload: Payload) -> str | None:
        return str(getattr(payload, self.key_field)) if self.key_field else None

    @property
    def dlq(self) -> str:
        return self.name + DLQ_SUFFIX


CATALOG_COMMANDS_TOPIC = Topic(
    "catalog.commands", "catalog", CATALOG_COMMANDS, description="Commands to the catalog", key_field="seller_id"
)
CATALOG_EVENTS_TOPIC = Topic("catalog.events", "catalog", CATALOG_EVENTS, description="What the catalog decided")
INVENTORY_COMMANDS_TOPIC = Topic(
    "inventory.commands", "inventory", INVENTORY_COMMANDS, description="Stock counts, receipts, policies",
    key_field="sku_id",
)
INVENTORY_EVENTS_TOPIC = Topic(
    "inventory.events", "inventory", INVENTORY_EVENTS, description="Allocations, releases, stock levels"
)
ORDERS_COMMANDS_TOPIC = Topic(
    "orders.commands", "orders", ORDERS_COMMANDS, description="Buyer and seller order commands", key_field="order_id"
)
ORDERS_EVENTS_TOPIC = Topic("orders.events", "orders", ORDERS_EVENTS, description="Order status and dates")
NOTIFICATIONS_COMMANDS_TOPIC = Topic(
    "notifications.commands", "notifications", NOTIFICATIONS_COMMANDS, description="Buyers' app inbox commands",
    key_field="buyer_id",
)
NOTIFICATIONS_EVENTS_TOPIC = Topic(
    "notifications.events", "notifications", NOTIFICATIONS_EVENTS, description="Messages sent to buyers, inbox changes"
)

ALL_TOPICS: tuple[Topic, ...] = (
    CATALOG_COMMANDS_TOPIC,
    CATALOG_EVENTS_TOPIC,
    INVENTORY_COMMANDS_TOPIC,
    INVENTORY_EVENTS_TOPIC,
    ORDERS_COMMANDS_TOPIC,
    ORDERS_EVENTS_TOPIC,
    NOTIFICATIONS_COMMANDS_TOPIC,
    NOTIFICATIONS_EVENTS_TOPIC,
)
TOPICS_BY_NAME: dict[str, Topic] = {t.name: t for t in ALL_TOPICS}


def all_topic_names(*, with_dlq: bool = True) -> list[str]:
    names = [t.name for t in ALL_TOPICS]
    return names + [t.dlq for t in ALL_TOPICS] if with_dlq else names


def command_topic_of(message_type: str) -> Topic:
    """The command topic that carries ``message_type`` (used by the CLI and tests)."""
    for topic in ALL_TOPICS:
        if topic.name.endswith(".commands") and topic.payload_model(message_type):
            return topic
    raise KeyError(f"no command topic carries {message_type!r}")
