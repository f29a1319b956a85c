"""``backorder send <command>``: one subcommand per command in the contract, flags from its fields."""

from __future__ import annotations

import asyncio
import inspect
import json
import re
from pathlib import Path
from typing import Any

import typer
from pydantic import ValidationError
from rich.console import Console

from backorder_cli.kafka import publish
from shared.contract.envelope import Payload, Principal
from shared.contract.topics import ALL_TOPICS

console = Console()
send_app = typer.Typer(help="Publish a command on its topic (flags or --file JSON).", no_args_is_help=True)


def _kebab(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


def _parse(value: str) -> Any:
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value


def build_payload(model: type[Payload], base: dict[str, Any], flags: dict[str, str | None]) -> Payload:
    data = dict(base)
    for name, raw in flags.items():
        if raw is None:
            continue
        annotation = str(model.model_fields[name].annotation)
        data[name] = raw if annotation in ("<class 'str'>",) else _parse(raw)
    return model.model_validate(data)


def principal_of(value: str | None) -> Principal | None:
    if not value:
        return None
    kind, _, ident = value.partition(":")
    return Principal(kind=kind, id=ident)


def _help(field: Any) -> str:
    parts = [field.description or ""]
    if field.examples:
        parts.append(f"e.g. {json.dumps(field.examples[0])}")
    if field.is_required():
        parts.append("(required)")
    return " ".join(p for p in parts if p)


def _command_for(model: type[Payload]) -> Any:
    def run(**kwargs: Any) -> None:
        file: Path | None = kwargs.pop("file")
        acting = kwargs.pop("as_principal")
        base = json.loads(file.read_text()) if file else {}
        try:
            payload = build_payload(model, base, kwargs)
        except ValidationError as exc:
            console.print(f"[red]invalid {model.message_type}:[/red]\n{exc}")
            raise typer.Exit(2) from exc
        event_id = asyncio.run(publish(payload, principal_of(acting)))
        console.print(f"published {model.message_type} [bold]{event_id}[/bold]")

    params = [
        inspect.Parameter("file", inspect.Parameter.KEYWORD_ONLY, annotation=Path | None,
                          default=typer.Option(None, "--file", "-f", help="JSON file with the payload")),
        inspect.Parameter("as_principal", inspect.Parameter.KEYWORD_ONLY, annotation=str | None,
                          default=typer.Option(None, "--as", help="acting principal, e.g. seller:seller-1")),
    ]
    for name, field in model.model_fields.items():
        params.append(inspect.Parameter(
            name, inspect.Parameter.KEYWORD_ONLY, annotation=str | None,
            default=typer.Option(None, f"--{name.replace('_', '-')}", help=_help(field)),
        ))
    run.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    run.__doc__ = model.__doc__
    return run


for _topic in ALL_TOPICS:
    if _topic.name.endswith(".commands"):
        for _model in _topic.messages:
            send_app.command(_kebab(_model.message_type), help=_model.__doc__)(_command_for(_model))
