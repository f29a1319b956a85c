"""Where the platform is: environment first, then the state file ``make run`` writes."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

SERVICES = ("catalog", "inventory", "orders", "notifications")


def _state() -> dict[str, Any]:
    path = Path(os.environ.get("BACKORDER_STATE", ".devstack/stack.json"))
    return dict(json.loads(path.read_text())) if path.exists() else {}


def bootstrap_servers() -> str:
    value = os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or _state().get("kafka_bootstrap")
    if not value:
        raise SystemExit("Kafka not found: set KAFKA_BOOTSTRAP_SERVERS or start the platform with `make run`")
    return str(value)


def service_url(service: str) -> str:
    value = os.environ.get(f"BACKORDER_{service.upper()}_URL")
    if value:
        return value.rstrip("/")
    services = _state().get("services", {})
    for name, info in services.items():
        if name.rsplit("-", 1)[0] == service:
            return str(info["url"])
    raise SystemExit(f"{service} not found: set BACKORDER_{service.upper()}_URL or start the platform with `make run`")
