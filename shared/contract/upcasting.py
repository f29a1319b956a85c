"""Older versions of a message, made current before validation: the one place a consumer reads them.

A message's shape changes only as a new version (``Payload.contract_version``, docs/operations.md, "Evolve a
message"). Each step from version N to N + 1 of a type is a function on the payload's JSON, registered below;
the decoder applies the steps from the envelope's ``version`` up to the model's, so every handler sees the
current shape whatever release produced the message. A step is dropped when no topic can still hold its version
(the topic's retention after the last producer of it was replaced).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

JSON = dict[str, Any]


def _order_rejected_1_to_2(payload: JSON) -> JSON:
    """Version 1 sent the reason's code alone; which SKUs it concerned was not said."""
    reason = payload.get("reason")
    return {**payload, "reason": {"code": reason}} if isinstance(reason, str) else payload


#: (message type, version) -> the step to version + 1
STEPS: dict[tuple[str, int], Callable[[JSON], JSON]] = {
    ("OrderRejected", 1): _order_rejected_1_to_2,
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
