"""The alert rules (deploy/prometheus/backorder-alerts.yaml): promtool's unit tests pass, every rule has series
that fire it and series that must not, a broken rule fails them, and the Kubernetes base holds the same rules
(deploy/render_observability.py). docs/operations.md explains every alert."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.tools import DEPLOY, ROOT, missing_tool, run

RULES = DEPLOY / "prometheus" / "backorder-alerts.yaml"
TESTS = sorted((DEPLOY / "prometheus" / "tests").glob("*.yaml"))
DEBIAN_PROMTOOL = Path(sys.prefix) / "tools" / "prometheus" / "usr" / "bin" / "promtool"


@pytest.fixture(scope="module")
def promtool() -> str:
    found = shutil.which("promtool") or (str(DEBIAN_PROMTOOL) if DEBIAN_PROMTOOL.exists() else None)
    if not found:
        missing_tool("promtool (Debian's prometheus package)")
    assert found
    return found


def alerts() -> list[dict[str, Any]]:
    return [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"] if "alert" in rule]


def test_the_rule_file_is_valid(promtool: str) -> None:
    result = run([promtool, "check", "rules", str(RULES)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_pass(promtool: str) -> None:
    assert TESTS
    result = run([promtool, "test", "rules", *map(str, TESTS)], cwd=TESTS[0].parent)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_is_tested_firing_and_not_firing() -> None:
    firing: set[str] = set()
    quiet: set[str] = set()
    for path in TESTS:
        for test in yaml.safe_load(path.read_text())["tests"]:
            for case in test.get("alert_rule_test", []):
                (firing if case.get("exp_alerts") else quiet).add(case["alertname"])
    names = {rule["alert"] for rule in alerts()}
    assert names - firing == set(), "alerts no test fires"
    assert names - quiet == set(), "alerts no test proves quiet"


def test_a_broken_threshold_fails_the_unit_tests(promtool: str, tmp_path: Path) -> None:
    """The tests can fail: the outbox alert with a threshold of an hour no longer fires when they expect it."""
    (tmp_path / "tests").mkdir()
    metric = "(backorder_outbox_oldest_age_seconds)"
    broken = RULES.read_text().replace(f"{metric} > 60", f"{metric} > 3600")
    assert broken != RULES.read_text()
    (tmp_path / RULES.name).write_text(broken)
    for path in TESTS:
        shutil.copy(path, tmp_path / "tests" / path.name)
    result = run([promtool, "test", "rules", *(p.name for p in TESTS)], cwd=tmp_path / "tests")
    assert result.returncode != 0 and "BackorderOutboxStale" in result.stdout + result.stderr


def test_the_kubernetes_base_holds_the_same_rules_and_dashboard() -> None:
    result = subprocess.run([sys.executable, str(DEPLOY / "render_observability.py"), "--check"],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    rule = yaml.safe_load((DEPLOY / "k8s" / "base" / "alerts.yaml").read_text())
    assert rule["spec"] == yaml.safe_load(RULES.read_text())


def test_the_runbook_explains_every_alert() -> None:
    runbook = (ROOT / "docs" / "operations.md").read_text()
    missing = [rule["alert"] for rule in alerts() if f"### {rule['alert']}" not in runbook]
    assert not missing, f"docs/operations.md has no section for {missing}"
