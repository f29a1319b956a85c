"""Staged writes compose into one statement: each a CTE with its rows' parameter renumbered."""

from __future__ import annotations

import pytest

from shared.persistence.staging import StagedWrite, StagedWriteFailed, compose

INSERT = "INSERT INTO t (a) SELECT a FROM jsonb_to_recordset($1::jsonb) AS r(a int);"


def test_staged_writes_become_ctes_numbered_after_the_statement_they_ride() -> None:
    composed = compose([StagedWrite(INSERT, [{"a": 1}]),
                        StagedWrite("UPDATE t SET a = r.a FROM jsonb_to_recordset($1) r(a int) RETURNING t.a",
                                    [{"a": 2}], check=lambda rows: None)], first=9)
    assert composed.ctes == [
        "staged_0 AS (INSERT INTO t (a) SELECT a FROM jsonb_to_recordset($9::text::jsonb) AS r(a int))",
        "staged_1 AS (UPDATE t SET a = r.a FROM jsonb_to_recordset($10::text) r(a int) RETURNING t.a)",
    ]
    assert composed.args == ['[{"a":1}]', '[{"a":2}]']
    assert composed.returned == ["(SELECT jsonb_agg(to_jsonb(r)) FROM staged_1 r) AS staged_1"]


def test_a_staged_writes_check_that_raises_fails_the_write() -> None:
    def refuse(rows: list[dict[str, int]]) -> None:
        raise AssertionError(f"stored {rows}")

    composed = compose([StagedWrite(INSERT + " RETURNING a", [{"a": 1}], check=refuse)], first=1)
    with pytest.raises(StagedWriteFailed, match=r"staged_0: AssertionError\(\"stored \[{'a': 1}\]\"\)"):
        composed.run_checks({"staged_0": [{"a": 1}]})


@pytest.mark.parametrize("sql", [
    "INSERT INTO t (a, b) SELECT $1, $2",  # a second parameter would collide with the statement it rides
    "SELECT * FROM jsonb_to_recordset($1) r(a int)",  # not a write
    "INSERT INTO t DEFAULT VALUES",  # no rows
])
def test_a_staged_write_is_one_insert_update_or_delete_of_its_rows_parameter(sql: str) -> None:
    with pytest.raises(ValueError):
        StagedWrite(sql, [])
