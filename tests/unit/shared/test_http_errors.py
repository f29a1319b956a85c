"""Every read route answers an error in one shape: ``{"error": <machine code>, "message": <sentence>}``."""

from __future__ import annotations

import json

import pytest
from aiohttp import web

from shared.observability.http import bad_query, http_error, not_found


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (bad_query('limit must be "1-1000"'), 400, "bad_query"),
        (not_found("unknown_order", "no order o-1"), 404, "unknown_order"),
        (http_error(404, "unknown_sku", "no SKU sku-1"), 404, "unknown_sku"),
    ],
)
def test_an_http_error_is_a_json_problem_with_its_status(error: web.HTTPError, status: int, code: str) -> None:
    assert (error.status, error.content_type) == (status, "application/json")
    body = json.loads(error.text or "")
    assert set(body) == {"error", "message"} and body["error"] == code


def test_a_message_with_quotes_stays_valid_json() -> None:
    body = json.loads(bad_query('status must be one of "a", "b"').text or "")
    assert body == {"error": "bad_query", "message": 'status must be one of "a", "b"'}
