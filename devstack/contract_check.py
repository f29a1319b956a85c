"""The contract compatibility gate: ``make contract-check``.

It compares the AsyncAPI documents under ``docs/asyncapi/`` with the last release's copy
(``docs/asyncapi/releases/<version>/``, the release named by the first entry of ``CHANGELOG.md``) and fails on a
change that breaks a consumer or a producer of this platform's messages. The diff and its classification are
``@asyncapi/diff``'s (``tools/contract-check``, pinned, installed by ``make contract-tool``); this module prepares
the documents for it and says what its findings mean:

* the documents are dereferenced (the tool diffs JSON pointers: behind a ``$ref`` every schema change is under
  ``/components``, which its standard calls non-breaking) and cut to the channels of topics the service owns
  (what it publishes, the commands it accepts: a consumer that stops reading a type breaks no one);
* ``required`` and ``enum`` become sets (``{value: value}``): a JSON patch of a list reports an insertion as
  edits of every later index, which no path rule can classify;
* the standard is extended, through the tool's ``override``, with a rule for every JSON-schema path of the
  messages: the message key is ``command`` or ``event``, so that a new required field breaks a command but
  not an event.

The Kafka key of a topic is not in an AsyncAPI document, so one supplementary check compares the topic table's
key fields with the release's ``topics.json``. A breaking change to a message is let through when the message
declares a higher ``version`` than the release's and the changelog's Unreleased section names it.

    python -m devstack.contract_check              # the gate (exit 1 on a breaking change)
    python -m devstack.contract_check snapshot V   # copy the current documents as release V's
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TOOL = ROOT / "tools" / "contract-check"
SERVICES = ("catalog", "inventory", "orders", "notifications")
#: a release entry of CHANGELOG.md: ``## [0.1.0] - 2026-12-06``, then, before the next entry, ``Commit: `<sha>` ``
RELEASE = re.compile(r"^## \[(\d+\.\d+\.\d+)\] - (\d{4}-\d{2}-\d{2})$", re.MULTILINE)
COMMIT = re.compile(r"^Commit: `([0-9a-f]{40})`", re.MULTILINE)
UNRELEASED = re.compile(r"^## \[Unreleased\]$(.*?)(?=^## \[)", re.MULTILINE | re.DOTALL)

BREAKING, ADDITIVE = "breaking", "non-breaking"
Rule = dict[str, str]
#: annotations: changing them changes no message
NOTE: Rule = {"add": ADDITIVE, "remove": ADDITIVE, "edit": ADDITIVE}
#: a constraint (type, maxLength, pattern, const...): adding or changing one may narrow, dropping it widens
CONSTRAINT: Rule = {"add": BREAKING, "remove": ADDITIVE, "edit": BREAKING}
FIELD: Rule = {"add": ADDITIVE, "remove": BREAKING, "edit": BREAKING}
STRUCTURE: Rule = {"add": BREAKING, "remove": BREAKING, "edit": BREAKING}
REQUIRED = {
    "command": {"add": BREAKING, "remove": ADDITIVE, "edit": BREAKING},  # senders must now send it
    "event": {"add": ADDITIVE, "remove": BREAKING, "edit": BREAKING},  # readers may now go without it
}
ENUM: Rule = {"add": ADDITIVE, "remove": BREAKING, "edit": BREAKING}
ANNOTATIONS = {"title", "description", "examples", "default", "$comment", "deprecated"}
NAMED = {"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"}
LISTS = {"anyOf", "oneOf", "allOf", "prefixItems"}
SETS = {"required", "enum"}


@dataclass(frozen=True)
class Release:
    version: str
    date: str
    commit: str


def releases(changelog: str) -> list[Release]:
    """The releases CHANGELOG.md lists, newest first, each with the commit it was cut from."""
    found = []
    entries = list(RELEASE.finditer(changelog))
    for i, entry in enumerate(entries):
        body = changelog[entry.end(): entries[i + 1].start() if i + 1 < len(entries) else len(changelog)]
        commit = COMMIT.search(body)
        if commit is None:
            raise ValueError(f"CHANGELOG.md: release {entry.group(1)} names no commit (`Commit: `<40 hex>``)")
        found.append(Release(entry.group(1), entry.group(2), commit.group(1)))
    return found


def unreleased_notes(changelog: str) -> str:
    match = UNRELEASED.search(changelog)
    return match.group(1) if match else ""


# ------------------------------------------------------------------ preparing the documents


def dereference(node: Any, root: dict[str, Any], seen: tuple[str, ...] = ()) -> Any:
    """``node`` with every local ``$ref`` replaced by what it points at."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/"):
            if ref in seen:
                raise ValueError(f"recursive $ref {ref}")
            target: Any = root
            for part in ref[2:].split("/"):
                target = target[part.replace("~1", "/").replace("~0", "~")]
            return dereference(target, root, (*seen, ref))
        return {k: dereference(v, root, seen) for k, v in node.items()}
    if isinstance(node, list):
        return [dereference(v, root, seen) for v in node]
    return node


def _set_key(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _as_sets(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {k: {_set_key(v): v for v in val} if k in SETS and isinstance(val, list) else _as_sets(val)
                for k, val in schema.items()}
    if isinstance(schema, list):
        return [_as_sets(v) for v in schema]
    return schema


def prepare(document: dict[str, Any], service: str) -> dict[str, Any]:
    """What the gate diffs: the channels of the service's own topics, dereferenced, each message under the key
    ``command`` or ``event``, ``required`` and ``enum`` as sets."""
    channels = {}
    for name, channel in dereference(document.get("channels", {}), document).items():
        address = channel.get("address", "")
        if address.split(".")[0] != service:
            continue
        kind = "command" if address.split(".")[1:2] == ["commands"] else "event"
        (message,) = channel["messages"].values()  # a channel per message type (shared/asyncapi_app.py)
        channels[name] = {**channel, "messages": {kind: _as_sets(message)}}
    return {"asyncapi": document["asyncapi"], "channels": channels}


# ------------------------------------------------------------------ the rules the tool classifies with


def _schema_rules(node: Any, prefix: str, out: dict[str, Rule], kind: str) -> None:
    if not isinstance(node, dict):
        return
    for key, value in node.items():
        path = f"{prefix}/{key}"
        if key in NAMED and isinstance(value, dict):
            out[path] = STRUCTURE
            out[path + "/*"] = FIELD
            for sub in value.values():
                _schema_rules(sub, path + "/*", out, kind)
        elif key in SETS:
            out[path] = STRUCTURE
            out[path + "/*"] = REQUIRED[kind] if key == "required" else ENUM
        elif key in LISTS and isinstance(value, list):
            out[path] = STRUCTURE
            out[path + "/*"] = {"add": ADDITIVE, "remove": BREAKING, "edit": BREAKING}  # an alternative
            for sub in value:
                _schema_rules(sub, path + "/*", out, kind)
        elif isinstance(value, dict) and key not in ANNOTATIONS:  # items, additionalProperties, not...
            out[path] = CONSTRAINT
            _schema_rules(value, path, out, kind)
        else:
            _value_rules(value, path, NOTE if key in ANNOTATIONS else CONSTRAINT, out)


def _value_rules(value: Any, path: str, rule: Rule, out: dict[str, Rule]) -> None:
    out[path] = rule
    children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    for child in children:
        _value_rules(child, path + "/*", rule, out)


def override(*documents: dict[str, Any]) -> dict[str, Rule]:
    """The tool's standard, extended to every path of the messages of these prepared documents."""
    out: dict[str, Rule] = {}
    for document in documents:
        for channel in document["channels"].values():
            for kind, message in channel["messages"].items():
                base = f"/channels/*/messages/{kind}"
                out[base] = {"add": ADDITIVE, "remove": BREAKING, "edit": BREAKING}
                for key, value in message.items():
                    if key == "payload":
                        out[f"{base}/payload"] = STRUCTURE
                        _schema_rules(value, f"{base}/payload", out, kind)
                    else:
                        _value_rules(value, f"{base}/{key}", NOTE if key in {"title", "summary", "description",
                                                                               "examples"} else STRUCTURE, out)
    return out


def run_tool(pairs: list[dict[str, Any]], rules: dict[str, Rule]) -> dict[str, list[dict[str, Any]]]:
    """``@asyncapi/diff`` on each pair: its changes, each classified ``breaking``/``non-breaking``/``unclassified``."""
    if not (TOOL / "node_modules" / "@asyncapi" / "diff").is_dir():
        raise SystemExit("contract-check: @asyncapi/diff is not installed: run `make contract-tool`")
    with tempfile.NamedTemporaryFile("w", suffix=".json") as handle:
        json.dump({"pairs": pairs, "override": rules}, handle)
        handle.flush()
        done = subprocess.run(["node", str(TOOL / "diff.cjs"), handle.name], capture_output=True, text=True,
                              check=False)
    if done.returncode:
        raise SystemExit(f"contract-check: @asyncapi/diff failed: {done.stderr.strip()}")
    return json.loads(done.stdout)  # type: ignore[no-any-return]


# ------------------------------------------------------------------ findings


@dataclass(frozen=True)
class Finding:
    service: str
    channel: str
    what: str
    severity: str  # breaking, non-breaking, unclassified, or "allowed" (a declared new version)
    path: str

    def line(self) -> str:
        return f"  {self.channel}: {self.what}\n      ({self.path})"


def describe(change: dict[str, Any]) -> tuple[str, str]:
    """(channel, a sentence) for a change the tool reported."""
    parts = change["path"].split("/")[1:]
    channel = parts[1] if len(parts) > 1 else ""
    action = change["action"]
    if len(parts) == 2:
        return channel, {"remove": "message dropped from its topic", "add": "message added"}.get(action, action)
    if parts[2:3] == ["address"]:
        return channel, f"moved from topic {change.get('before')} to {change.get('after')}"
    schema = parts[5:] if parts[4:5] == ["payload"] else []
    field, i = [], 0
    while i < len(schema):
        if schema[i] in NAMED and i + 1 < len(schema):
            field.append(schema[i + 1])
            i += 2
        else:
            break
    name = ".".join(field) or "(message)"
    rest = schema[i:]
    if not schema:
        return channel, f"{action} {'/'.join(parts[2:])}"
    if not rest:
        return channel, {"remove": f"field removed or renamed: {name}", "add": f"field added: {name}"}.get(
            action, f"field changed: {name}")
    keyword, value = rest[0], "/".join(rest[1:])
    if keyword in SETS and not value and isinstance(change.get("after" if action == "add" else "before"), dict):
        value = ", ".join(change["after" if action == "add" else "before"])  # the whole set at once
    if keyword == "required":
        return channel, {"add": f"field now required: {name}.{value}" if name != "(message)" else
                         f"field now required: {value}"}.get(action, f"field no longer required: {value}")
    if keyword == "enum":
        return channel, f"enum value {'removed' if action == 'remove' else 'added'}: {name} {value!r}"
    if keyword == "type":
        return channel, f"type of {name} {action}: {change.get('before')!r} -> {change.get('after')!r}"
    return channel, f"{keyword} of {name} {action}: {change.get('before')!r} -> {change.get('after')!r}"


def declared_version(document: dict[str, Any], channel: str) -> int:
    """The ``version`` a channel's message declares (its envelope's default), 1 when none."""
    for message in document["channels"].get(channel, {}).get("messages", {}).values():
        version = message.get("payload", {}).get("properties", {}).get("version", {})
        return int(version.get("const", version.get("default", 1)))
    return 1


def topic_keys() -> dict[str, str | None]:
    """Each topic's declared Kafka key (the payload field commands are keyed by), from the topic table."""
    from shared.contract.topics import ALL_TOPICS

    return {t.name: t.key_field for t in ALL_TOPICS}


def key_findings(old: dict[str, str | None], new: dict[str, str | None]) -> list[Finding]:
    """The supplementary check: a topic whose key field changed (AsyncAPI documents do not carry keys)."""
    return [Finding(topic.split(".")[0], topic, f"Kafka key changed: {old[topic]} -> {new.get(topic)}", BREAKING,
                    "shared/contract/topics.py key_field")
            for topic in sorted(old) if topic in new and new[topic] != old[topic]]


def findings(release_docs: Path, current_docs: Path, changelog: str,
             keys: dict[str, str | None] | None = None) -> list[Finding]:
    """Every change between a release's documents and the current ones, classified."""
    prepared = {}
    for service in SERVICES:
        old = prepare(json.loads((release_docs / f"{service}.json").read_text()), service)
        new = prepare(json.loads((current_docs / f"{service}.json").read_text()), service)
        prepared[service] = (old, new)
    rules = override(*[doc for pair in prepared.values() for doc in pair])
    changes = run_tool([{"name": s, "old": o, "new": n} for s, (o, n) in prepared.items()], rules)
    notes = unreleased_notes(changelog)
    out = []
    for service, (old, new) in prepared.items():
        removed = {c["path"] for c in changes[service] if c["action"] == "remove"}
        for change in changes[service]:
            if _required_of_a_removed_field(change["path"], removed):
                continue  # the field's removal says it
            channel, what = describe(change)
            severity = change["type"]
            bumped = declared_version(new, channel) > declared_version(old, channel)
            if severity == BREAKING and bumped and re.search(rf"\b{re.escape(channel.split(':')[-1])}\b", notes):
                severity = f"allowed: declared v{declared_version(new, channel)}"
            out.append(Finding(service, channel, what, severity, change["path"]))
    release_keys = release_docs / "topics.json"
    if release_keys.exists():
        out += key_findings(json.loads(release_keys.read_text()), keys if keys is not None else topic_keys())
    return out


def _required_of_a_removed_field(path: str, removed: set[str]) -> bool:
    schema, _, name = path.rpartition("/required/")
    return bool(schema) and "/" not in name and f"{schema}/properties/{name}" in removed


def report(release: Release, found: list[Finding]) -> tuple[str, int]:
    """The gate's text and exit code."""
    breaking = [f for f in found if f.severity == BREAKING]
    lines = [f"contract-check: against release {release.version} (commit {release.commit[:12]}, "
             f"docs/asyncapi/releases/{release.version}/)"]
    for title, group in (("BREAKING", breaking),
                         ("allowed (a new message version, in the changelog)",
                          [f for f in found if f.severity.startswith("allowed")]),
                         ("unclassified", [f for f in found if f.severity == "unclassified"]),
                         ("additive", [f for f in found if f.severity == ADDITIVE])):
        if group:
            lines.append(f"{title}: {len(group)}")
            lines += [f.line() for f in group]
    if breaking:
        lines.append("FAILED: a consumer or producer built against the release would break. Make the change "
                     "additive, or ship it as a new version of the message (docs/operations.md, \"Evolve a "
                     "message\") and name it under [Unreleased] in CHANGELOG.md.")
    else:
        lines.append("OK: compatible with the last release.")
    return "\n".join(lines), 1 if breaking else 0


def check(root: Path = ROOT, keys: dict[str, str | None] | None = None) -> tuple[str, int]:
    changelog = (root / "CHANGELOG.md").read_text()
    listed = releases(changelog)
    if not listed:
        return "contract-check: CHANGELOG.md lists no release", 1
    release = listed[0]
    docs = root / "docs" / "asyncapi"
    return report(release, findings(docs / "releases" / release.version, docs, changelog, keys))


def snapshot(version: str, root: Path = ROOT) -> Iterator[Path]:
    """Copy the current documents, and the topic table's keys, as release ``version``'s."""
    target = root / "docs" / "asyncapi" / "releases" / version
    target.mkdir(parents=True, exist_ok=True)
    for service in SERVICES:
        yield Path(shutil.copy(root / "docs" / "asyncapi" / f"{service}.json", target / f"{service}.json"))
    (target / "topics.json").write_text(json.dumps(topic_keys(), indent=2, sort_keys=True) + "\n")
    yield target / "topics.json"


if __name__ == "__main__":
    if sys.argv[1:2] == ["snapshot"] and len(sys.argv) == 3:
        for written in snapshot(sys.argv[2]):
            print(f"wrote {written.relative_to(ROOT)}")
    else:
        text, code = check()
        print(text)
        sys.exit(code)
