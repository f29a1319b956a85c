"""The committed AsyncAPI documents (docs/asyncapi/) are what the code generates today."""

from __future__ import annotations

import json

import pytest

from shared.asyncapi_docs import SERVICES, generate, path_of, render


@pytest.mark.parametrize("service", SERVICES)
def test_committed_asyncapi_document_is_current(service: str) -> None:
    """If this fails after a contract change: make docs"""
    committed = json.loads(path_of(service).read_text())
    assert committed == json.loads(render(generate(service)))


@pytest.mark.parametrize("service", SERVICES)
def test_every_message_the_service_handles_or_emits_is_documented_with_an_example(service: str) -> None:
    from importlib import import_module

    definition = import_module(f"services.{service}.app").DEFINITION
    channels = generate(service)["channels"]
    emitted = {f"{t.name}:{m.message_type}" for t in definition.publishes for m in t.messages}
    consumed = {f"{s.topic.name}:{m.message_type}" for s in definition.subscriptions for m in s.topic.messages
                if s.handles(m.message_type)}
    assert emitted | consumed <= set(channels)
    schemas = generate(service)["components"]["schemas"]
    for channel in emitted | consumed:
        envelope = schemas[f"{channel.split(':')[1]}Envelope"]
        assert envelope["properties"]["type"]["examples"] == [channel.split(":")[1]]
