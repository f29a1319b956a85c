"""docs/rules.md: every rule it describes has a test named after it, and its lists of tests are current.

The lists are generated from the tests' names: `.venv/bin/python -m devstack.rules_doc write` rewrites them.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path

from typer.testing import CliRunner

from devstack import rules_doc

ROOT = rules_doc.ROOT
REGENERATE = "`.venv/bin/python -m devstack.rules_doc write`, then commit docs/rules.md"
#: the places whose pointers to the rules and to a `shared` folder must stay inside the repository
POINTERS = ("README.md", "CONTRIBUTING.md", "docs", "shared", "services", "backorder_cli")
#: a path through a folder named shared: relative (with or without `..`), absolute or from a home folder
PATH_TO_SHARED = re.compile(r"[\w.~/-]*/shared(?![\w-])[\w./-]*")


def _doc() -> str:
    return (ROOT / rules_doc.DOC).read_text(encoding="utf-8")


def test_docs_rules_md_describes_r01_to_r33_and_r06a_in_order() -> None:
    expected = [f"R{n:02d}" for n in range(1, 34)]
    expected.insert(expected.index("R07"), "R06a")
    assert rules_doc.listed_rules(_doc()) == expected


def test_every_rule_in_docs_rules_md_has_a_test_named_after_it() -> None:
    proofs = rules_doc.collect_proofs(ROOT)
    untested = [rule for rule in rules_doc.listed_rules(_doc()) if not proofs.get(rule)]
    assert not untested, f"no test is named after {untested} (name one test_rNN_... when it proves rule RNN)"


def test_every_test_named_after_a_rule_names_a_rule_of_docs_rules_md() -> None:
    listed = set(rules_doc.listed_rules(_doc()))
    unknown = {rule: tests for rule, tests in rules_doc.collect_proofs(ROOT).items() if rule not in listed}
    assert not unknown, f"tests named after rules docs/rules.md does not describe: {unknown}"


def test_every_rule_of_docs_rules_md_has_one_generated_test_list() -> None:
    text = _doc()
    assert [match.group(2) for match in rules_doc.BLOCK.finditer(text)] == rules_doc.listed_rules(text)


def test_docs_rules_md_test_lists_are_up_to_date() -> None:
    text = _doc()
    current = rules_doc.render(text, rules_doc.collect_proofs(ROOT))
    diff = "".join(difflib.unified_diff(text.splitlines(keepends=True), current.splitlines(keepends=True),
                                        "docs/rules.md", "generated from the test names", n=0))
    assert current == text, f"docs/rules.md's lists of tests are out of date; regenerate them: {REGENERATE}\n{diff}"


def test_rule_ids_are_read_from_test_names_without_importing_the_tests(tmp_path: Path) -> None:
    tests = tmp_path / "tests" / "unit"
    tests.mkdir(parents=True)
    (tests / "test_sample.py").write_text(
        "import a_module_that_does_not_exist\n\n"
        "def test_r07_sync(): ...\n"
        "async def test_r28_r29_r30_async(): ...\n"
        "def test_r08_then_r09_names_r08_only(): ...\n"
        "def test_rejected_names_no_rule(): ...\n"
        "def test_r12(): ...\n"
        "class TestGroup:\n"
        "    def test_r06a_method(self): ...\n"
        "def helper():\n"
        "    def test_r10_nested(): ...\n",
        encoding="utf-8",
    )
    (tests / "helpers.py").write_text("def test_r11_not_in_a_test_file(): ...\n", encoding="utf-8")
    sample = "tests/unit/test_sample.py::"
    assert rules_doc.collect_proofs(tmp_path) == {
        "R07": [sample + "test_r07_sync"],
        "R28": [sample + "test_r28_r29_r30_async"],
        "R29": [sample + "test_r28_r29_r30_async"],
        "R30": [sample + "test_r28_r29_r30_async"],
        "R08": [sample + "test_r08_then_r09_names_r08_only"],
        "R12": [sample + "test_r12"],
        "R06a": [sample + "TestGroup::test_r06a_method"],
    }


def test_check_reports_a_rule_without_a_test_and_a_stale_list_until_written(tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_a.py").write_text("def test_r01_a(): ...\n", encoding="utf-8")
    (tmp_path / "docs").mkdir()
    blocks = [f"### {rule}: x\n\n{rules_doc.BEGIN.format(rule=rule)}\n{rules_doc.END.format(rule=rule)}\n"
              for rule in ("R01", "R02")]
    doc = tmp_path / rules_doc.DOC
    doc.write_text("\n".join(blocks), encoding="utf-8")
    found = rules_doc.problems(tmp_path)
    assert any(p.startswith("R02 has no test") for p in found) and any("out of date" in p for p in found)
    doc.write_text(rules_doc.render(doc.read_text(encoding="utf-8"), rules_doc.collect_proofs(tmp_path)))
    assert "- `tests/test_a.py::test_r01_a`\n" in doc.read_text(encoding="utf-8")
    assert [p for p in rules_doc.problems(tmp_path) if not p.startswith("R02 has no test")] == []


def _pointers_outside_the_repository() -> list[str]:
    """`file:line: path` for every path to a `shared` folder that is not the repository's own."""
    own = (ROOT / "shared").resolve()
    found: list[str] = []
    for top in POINTERS:
        files = [ROOT / top] if (ROOT / top).is_file() else sorted((ROOT / top).rglob("*"))
        for file in files:
            if not file.is_file() or "__pycache__" in file.parts:
                continue
            try:
                lines = file.read_text(encoding="utf-8").splitlines()
            except UnicodeDecodeError:
                continue
            for number, line in enumerate(lines, 1):
                for match in PATH_TO_SHARED.finditer(line):
                    path = match.group().rstrip(".,")
                    if not path.startswith(("/", "~")) and ".." not in path.split("/"):
                        continue  # a name from the repository's root (`tests/unit/shared/...`), not a link
                    target = (file.parent / path).resolve()
                    inside = path[0] not in "/~" and (target == own or own in target.parents) and target.exists()
                    if not inside:
                        found.append(f"{file.relative_to(ROOT)}:{number}: {path}")
    return found


def test_no_pointer_leads_to_a_shared_folder_outside_the_repository() -> None:
    found = _pointers_outside_the_repository()
    assert not found, (
        "these point outside the repository; the rules are docs/rules.md (link it relative to the file), "
        "the project's own shared/ is reached only by a path that resolves inside it:\n" + "\n".join(found)
    )


def test_the_cli_help_points_at_docs_rules_md() -> None:
    from backorder_cli.main import app

    result = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "docs/rules.md" in result.output
