"""The committed AsyncAPI documents under ``docs/asyncapi/``: write them, or check they are current.

``python -m shared.asyncapi_docs write`` (``make docs``) does what
``faststream docs gen services.<name>.asyncapi:app`` does for each service, with keys
sorted so that the files diff cleanly.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Any

SERVICES = ("catalog", "inventory", "orders", "notifications")
DOCS = Path(__file__).resolve().parents[1] / "docs" / "asyncapi"


def generate(service: str) -> dict[str, Any]:
    app = importlib.import_module(f"services.{service}.asyncapi").app
    return dict(app.schema.to_specification().to_jsonable())


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True, default=str) + "\n"


def path_of(service: str) -> Path:
    return DOCS / f"{service}.json"


def write() -> list[Path]:
    DOCS.mkdir(parents=True, exist_ok=True)
    written = []
    for service in SERVICES:
        path_of(service).write_text(render(generate(service)))
        written.append(path_of(service))
    return written


def stale() -> list[str]:
    """Services whose committed document differs from what the code generates now."""
    return [
        s for s in SERVICES
        if not path_of(s).exists() or json.loads(path_of(s).read_text()) != json.loads(render(generate(s)))
    ]


if __name__ == "__main__":
    if sys.argv[1:] == ["write"]:
        for p in write():
            print(f"wrote {p}")
    else:
        out_of_date = stale()
        print("stale: " + ", ".join(out_of_date) if out_of_date else "all AsyncAPI documents are current")
        sys.exit(1 if out_of_date else 0)
