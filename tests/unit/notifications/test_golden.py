"""Every kind of message in every locale is the same as the golden files say (written before rendering and
MIME building were made fast, issue 27): subject, headers, the app text and both bodies, as a mail client
reads them; and the bytes are a valid MIME message that parses without defects.

One difference is deliberate: where the standard library folded a long non-ASCII subject, a reader found two
spaces where the encoded words met (9 of the 91 golden subjects). The subject now reads back exactly as
rendered, so the header values are compared with runs of spaces collapsed, and the subject read back must
equal the rendered one, character for character."""

from __future__ import annotations

import json
from email import message_from_bytes, policy
from typing import Any

import pytest

from tests.unit.notifications import golden

SAMPLES = list(golden.samples())


def spaces_collapsed(read: dict[str, Any]) -> dict[str, Any]:
    return {**read, "subject": " ".join(read["subject"].split()),
            "headers": [[name, " ".join(value.split())] for name, value in read["headers"]]}


def expected(kind: str, locale: str) -> dict[str, Any]:
    by_locale: dict[str, Any] = json.loads((golden.GOLDEN / f"{kind}.json").read_text())
    return by_locale[locale]


def test_r20_r21_r32_the_golden_files_cover_every_kind_and_every_locale() -> None:
    from services.notifications.domain import KINDS

    assert {kind for kind, _, _, _ in SAMPLES} == set(KINDS)
    assert {p.stem for p in golden.GOLDEN.glob("*.json")} == set(KINDS)
    buyer_locales = {locale for kind, locale, _, _ in SAMPLES if kind == "backorder_accepted"}
    assert buyer_locales == {locale for locale, _, _ in golden.LOCALES}


@pytest.mark.parametrize(("kind", "locale", "email", "app"), SAMPLES,
                         ids=[f"{kind}-{locale}" for kind, locale, _, _ in SAMPLES])
def test_r20_r21_r32_every_message_reads_as_its_golden_file(kind: str, locale: str, email: Any, app: str) -> None:
    wire = golden.wire(email)
    read = golden.read(wire, app)
    assert spaces_collapsed(read) == spaces_collapsed(expected(kind, locale))
    assert read["subject"] == email.subject
    parsed = message_from_bytes(wire, policy=policy.default)
    assert parsed.defects == [] and all(part.defects == [] for part in parsed.walk())
    assert all(len(line) <= 998 for line in wire.split(b"\r\n"))  # RFC 5322's hard limit
