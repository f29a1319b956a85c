"""Older versions of a message: read (upcast) by every consumer, and sent (downcast) for one release.

A message's shape changes only as a new version (``Payload.contract_version``, docs/operations.md, "Evolve a
message"). Each step from version N to N + 1 of a type is a function on the payload's JSON, registered in
``STEPS``; the decoder applies the steps from the envelope's ``version`` up to the model's, so every handler sees
the current shape whatever release produced the message. A step is dropped when no topic can still hold its
version (the topic's retention after the last producer of it was replaced).

The release that brings version N + 1 still sends version N, which the last release's consumers read (their
payload models refuse anything else): ``EMITTED`` names that version, ``DOWN_STEPS`` goes back to it, and the
envelope applies them as it is serialized. The next release deletes the type from ``EMITTED``: its producers
send N + 1, which every consumer of the release before reads.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

JSON = dict[str, Any]


def _order_rejected_1_to_2(payload: JSON) -> JSON:
    """Version 1 sent the reason's code alone; which SKUs it concerned was not said."""
    reason = payload.get("reason")
    return {**payload, "reason": {"code": reason}} if isinstance(reason, str) else payload


def _order_rejected_2_to_1(payload: JSON) -> JSON:
    """Version 1 has the reason's code alone (no consumer of 0.1.0 or of this release reads ``sku_ids``)."""
    reason = payload.get("reason")
    return {**payload, "reason": reason["code"]} if isinstance(reason, dict) else payload


#: (message type, version) -> the step to version + 1
STEPS: dict[tuple[str, int], Callable[[JSON], JSON]] = {
    ("OrderRejected", 1): _order_rejected_1_to_2,
}

#: (message type, version) -> the step to version - 1
DOWN_STEPS: dict[tuple[str, int], Callable[[JSON], JSON]] = {
    ("OrderRejected", 2): _order_rejected_2_to_1,
}

#: message type -> the version its producers send in this release, where that is older than its model's: the
#: version the last release's consumers read. OrderRejected: version 2 from the next release on (CHANGELOG.md).
EMITTED: dict[str, int] = {
    "OrderRejected": 1,
}


def upcast(message_type: str, version: int, payload: Any, current: int) -> Any:
    """``payload`` of ``message_type`` at ``version``, as version ``current``: unchanged when it has no older
    version (or is not an object: validation then says what is wrong with it)."""
    while version < current and isinstance(payload, dict):
        step = STEPS.get((message_type, version))
        if step is None:
            break
        payload, version = step(payload), version + 1
    return payload


def emitted_version(message_type: str, current: int) -> int:
    """The version a producer of this release sends a ``message_type`` whose model is version ``current`` in."""
    return min(EMITTED.get(message_type, current), current)


def downcast(message_type: str, version: int, payload: JSON, target: int) -> JSON:
    """``payload`` of ``message_type`` at ``version``, as the older version ``target``. There is no going back
    without a step: a message that said one version and held another would be dead-lettered by its readers."""
    while version > target:
        step = DOWN_STEPS.get((message_type, version))
        if step is None:
            raise ValueError(f"no step from version {version} of {message_type} down to {version - 1}")
        payload, version = step(payload), version - 1
    return payload
