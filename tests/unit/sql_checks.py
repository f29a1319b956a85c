"""The ``CHECK (column IN (...))`` lists of a service's migrations, for tests holding vocabularies in step."""

from __future__ import annotations

import re
from pathlib import Path

_TABLE = re.compile(r"(?:CREATE TABLE|ALTER TABLE)\s+(\w+)", re.IGNORECASE)
_CHECK = re.compile(r"CHECK\s*\(\s*(\w+)\s+IN\s*\(([^)]*)\)\s*\)", re.IGNORECASE)


def check_lists(migrations: Path) -> dict[str, tuple[str, ...]]:
    """``{"table.column": values}``, in migration order: a later migration's list replaces an earlier one."""
    lists: dict[str, tuple[str, ...]] = {}
    for path in sorted(migrations.glob("*.sql")):
        sql = path.read_text()
        for check in _CHECK.finditer(sql):
            tables = _TABLE.findall(sql, 0, check.start())
            values = tuple(re.findall(r"'([^']*)'", check.group(2)))
            lists[f"{tables[-1]}.{check.group(1)}"] = values
    return lists
