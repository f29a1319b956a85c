"""`make contract-check` (devstack/contract_check.py): the current AsyncAPI documents against the last
release's, with @asyncapi/diff. Each test edits a scratch copy of the repository's documents: the gate must fail,
naming the change, on what breaks a consumer or a producer, and pass what only adds."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from devstack import contract_check
from devstack.contract_check import ROOT, SERVICES, check, releases

Doc = dict[str, Any]
RELEASE = releases((ROOT / "CHANGELOG.md").read_text())[0]


@pytest.fixture(scope="module", autouse=True)
def _tool() -> None:
    subprocess.run(["make", "-s", "contract-tool"], cwd=ROOT, check=True)


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    """A copy of what the gate reads, the current documents being the release's own, nothing unreleased."""
    released = ROOT / "docs" / "asyncapi" / "releases" / RELEASE.version
    shutil.copytree(released, tmp_path / "docs" / "asyncapi" / "releases" / RELEASE.version)
    for service in SERVICES:
        shutil.copy(released / f"{service}.json", tmp_path / "docs" / "asyncapi" / f"{service}.json")
    changelog = (ROOT / "CHANGELOG.md").read_text()
    notes = contract_check.unreleased_notes(changelog)
    (tmp_path / "CHANGELOG.md").write_text(changelog.replace(notes, "\n\n", 1) if notes else changelog)
    return tmp_path


def edit(root: Path, service: str, change: Callable[[Doc], Any]) -> None:
    path = root / "docs" / "asyncapi" / f"{service}.json"
    document = json.loads(path.read_text())
    change(document)
    path.write_text(json.dumps(document))


def schema(document: Doc, name: str) -> Doc:
    return document["components"]["schemas"][name]  # type: ignore[no-any-return]


def drop_field(model: str, field: str) -> Callable[[Doc], None]:
    def change(d: Doc) -> None:
        del schema(d, model)["properties"][field]
        schema(d, model)["required"].remove(field)
    return change


def rename_field(d: Doc) -> None:
    rejected = schema(d, "OrderRejected")
    rejected["properties"]["why"] = rejected["properties"].pop("reason")
    rejected["required"] = ["order_id", "why"]


def require_new_field(model: str) -> Callable[[Doc], None]:
    def change(d: Doc) -> None:
        schema(d, model)["properties"]["channel"] = {"type": "string"}
        schema(d, model)["required"].insert(1, "channel")
    return change


def drop_message(d: Doc) -> None:
    del d["channels"]["orders.events:OrderRejected"]
    del d["operations"]["orders.events:OrderRejected"]


BREAKING: dict[str, tuple[str, Callable[[Doc], Any], str]] = {
    "field_removed": ("orders", drop_field("OrderRejected", "reason"),
                      "orders.events:OrderRejected: field removed or renamed: payload.reason"),
    "field_renamed": ("orders", rename_field, "orders.events:OrderRejected: field removed or renamed: payload.reason"),
    "type_narrowed": ("orders", lambda d: schema(d, "OrderRejected")["properties"]["reason"].update(type="integer"),
                      "orders.events:OrderRejected: type of payload.reason edit: 'string' -> 'integer'"),
    "length_narrowed": ("orders", lambda d: schema(d, "OrderRejected")["properties"]["reason"].update(maxLength=20),
                        "orders.events:OrderRejected: maxLength of payload.reason edit: 500 -> 20"),
    "required_field_in_a_command": ("orders", require_new_field("PlaceOrder"),
                                    "orders.commands:PlaceOrder: field now required: payload.channel"),
    "enum_value_removed": ("catalog", lambda d: schema(d, "ListingTypeChanged")["properties"]["listing_type"][
        "enum"].remove("pre_order"), "catalog.events:ListingTypeChanged: enum value removed: payload.listing_type "
                                     "'pre_order'"),
    "message_dropped": ("orders", drop_message, "orders.events:OrderRejected: message dropped from its topic"),
}


@pytest.mark.parametrize("case", list(BREAKING))
def test_contract_check_fails_on_a_breaking_change_and_names_it(scratch: Path, case: str) -> None:
    service, change, expected = BREAKING[case]
    edit(scratch, service, change)
    text, code = check(scratch)
    assert code == 1, text
    assert expected in text
    assert text.splitlines()[1] == "BREAKING: 1" and text.splitlines()[-1].startswith("FAILED: ")


def test_contract_check_fails_when_a_topic_key_changes(scratch: Path) -> None:
    keys = {**contract_check.topic_keys(), "orders.commands": "buyer_id"}
    text, code = check(scratch, keys)
    assert code == 1
    assert "orders.commands: Kafka key changed: order_id -> buyer_id" in text


ADDITIVE: dict[str, tuple[str, Callable[[Doc], Any], str]] = {
    "optional_field": ("orders", lambda d: schema(d, "OrderRejected")["properties"].update(
        detail={"type": "string", "default": ""}), "orders.events:OrderRejected: field added: payload.detail"),
    "enum_value_added": ("catalog", lambda d: schema(d, "ListingTypeChanged")["properties"]["listing_type"][
        "enum"].insert(1, "consignment"), "catalog.events:ListingTypeChanged: enum value added: payload.listing_type "
                                          "'consignment'"),
    "required_field_in_an_event": ("orders", require_new_field("OrderRejected"),
                                   "orders.events:OrderRejected: field now required: payload.channel"),
    "new_message": ("orders", lambda d: d["channels"].update(
        {"orders.events:OrderArchived": {**d["channels"]["orders.events:OrderRejected"], "description": "new"}}),
        "orders.events:OrderArchived: message added"),
    "a_consumer_reads_fewer_types": ("orders", lambda d: d["channels"].pop("catalog.events:ListingUpserted"), ""),
}


@pytest.mark.parametrize("case", list(ADDITIVE))
def test_contract_check_passes_an_additive_change(scratch: Path, case: str) -> None:
    service, change, expected = ADDITIVE[case]
    edit(scratch, service, change)
    text, code = check(scratch)
    assert code == 0, text
    assert expected in text
    assert text.splitlines()[-1] == "OK: compatible with the last release."


def declare_v2(d: Doc) -> None:
    drop_field("OrderRejected", "reason")(d)
    schema(d, "OrderRejectedEnvelope")["properties"]["version"]["default"] = 2


def test_contract_check_lets_a_breaking_change_through_as_a_declared_new_version(scratch: Path) -> None:
    edit(scratch, "orders", declare_v2)
    text, code = check(scratch)
    assert code == 1, "a new version no one documented"
    changelog = scratch / "CHANGELOG.md"
    changelog.write_text(changelog.read_text().replace(
        "## [Unreleased]\n", "## [Unreleased]\n\n### Changed\n\n- `OrderRejected` version 2: ...\n", 1))
    text, code = check(scratch)
    assert code == 0, text
    assert "orders.events:OrderRejected: field removed or renamed: payload.reason" in text
    assert "allowed (a new message version, in the changelog): 1" in text


def test_the_current_documents_pass_against_the_last_release() -> None:
    text, code = check()
    assert code == 0, text


def test_each_release_names_a_commit_of_this_repository_and_keeps_its_documents() -> None:
    for release in releases((ROOT / "CHANGELOG.md").read_text()):
        kept = ROOT / "docs" / "asyncapi" / "releases" / release.version
        assert sorted(p.name for p in kept.iterdir()) == sorted([f"{s}.json" for s in SERVICES] + ["topics.json"])
        assert subprocess.run(["git", "cat-file", "-e", f"{release.commit}^{{commit}}"], cwd=ROOT,
                              check=False).returncode == 0, f"{release.version}: {release.commit} is not in history"
