"""A service's AsyncAPI document, from the same ``ServiceDefinition`` that runs it, so the two cannot disagree.

``services/<name>/asyncapi.py`` exposes it as ``app`` (``faststream docs serve services.orders.asyncapi:app``);
``shared/asyncapi_docs.py`` writes the committed documents under ``docs/asyncapi/``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Literal

from faststream import FastStream
from faststream.kafka import KafkaBroker
from faststream.specification import AsyncAPI
from pydantic import Field, create_model

from shared.contract.dlq import DeadLetter
from shared.contract.envelope import Envelope, Payload
from shared.service import ServiceDefinition


def docs_app(definition: ServiceDefinition) -> FastStream:
    """The AsyncAPI document of a service: what it consumes and what it emits, with examples."""
    broker = KafkaBroker("kafka:9092")
    for topic in definition.publishes:
        for model in topic.messages:
            broker.publisher(
                topic.name, title=f"{topic.name}:{model.message_type}", description=model.__doc__,
                schema=_documented_envelope(model),
            )
    for subscription in definition.subscriptions:
        consumed = [m for m in subscription.topic.messages if subscription.handles(m.message_type)]
        for model in consumed:
            broker.subscriber(
                subscription.topic.name, group_id=definition.group_id,
                title=f"{subscription.topic.name}:{model.message_type}", description=model.__doc__,
            )(_doc_handler(_documented_envelope(model)))
        broker.publisher(subscription.topic.dlq, title=subscription.topic.dlq, schema=DeadLetter,
                         description="Messages this service could not decode or handle, with the reason")
    return FastStream(
        broker,
        specification=AsyncAPI(
            title=f"backorder {definition.name} service",
            version=definition.version,
            description=definition.description,
        ),
    )


def _documented_envelope(model: type[Payload]) -> Any:
    """``Envelope[model]`` with ``type`` fixed to the model's message type, so every channel's
    example and schema say exactly what travels there."""
    name = model.message_type
    return create_model(
        f"{name}Envelope",
        __base__=Envelope[model],  # type: ignore[valid-type]
        type=(Literal[name], Field(description="Message type", examples=[name])),  # type: ignore[valid-type,arg-type]
        # the version of the shape documented (a producer may send the one before for a release:
        # shared/contract/upcasting.py, EMITTED): what `make contract-check` reads as a declared new version
        version=(int, Field(default=model.contract_version, ge=1, description="Contract version of the payload")),
    )


def _doc_handler(model: Any) -> Callable[..., Awaitable[None]]:
    async def handler(body: Any) -> None:  # pragma: no cover - documentation only
        return None

    handler.__annotations__ = {"body": model, "return": None}
    return handler
