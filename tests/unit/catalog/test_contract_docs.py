"""The catalog's AsyncAPI document lists every command and event, each with a valid example."""

from __future__ import annotations

from typing import Any

import pytest

from services.catalog.asyncapi import app
from shared.contract.catalog import CATALOG_COMMANDS, CATALOG_EVENTS
from shared.contract.envelope import Payload


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return dict(app.schema.to_specification().to_jsonable())  # type: ignore[union-attr]


def test_every_command_and_event_has_a_channel(document: dict[str, Any]) -> None:
    channels = set(document["channels"])
    assert {f"catalog.commands:{m.message_type}" for m in CATALOG_COMMANDS} <= channels
    assert {f"catalog.events:{m.message_type}" for m in CATALOG_EVENTS} <= channels
    assert "catalog.commands.dlq" in channels


@pytest.mark.parametrize("model", CATALOG_COMMANDS + CATALOG_EVENTS, ids=lambda m: m.message_type)
def test_every_message_is_documented_with_a_valid_example(document: dict[str, Any], model: type[Payload]) -> None:
    schema = document["components"]["schemas"][model.__name__]
    assert schema.get("description"), "a docstring"
    (example,) = schema["examples"]
    # the example is a message exactly as written: no value coerced (``"yes"`` for ``true``, ``"7"`` for ``7``)
    assert model.model_validate(example).model_dump(mode="json", exclude_unset=True) == example
    missing = [name for name, field in schema["properties"].items() if not _has_example(field)]
    assert not missing, f"fields without an example: {missing}"


def _has_example(field: dict[str, Any]) -> bool:
    return "examples" in field or "$ref" in field or any(_has_example(alt) for alt in field.get("anyOf", []))
