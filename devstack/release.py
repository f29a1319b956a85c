"""A release of this repository, built beside the checkout, so that its services can run next to this build's.

The release is the first one ``CHANGELOG.md`` lists; its ``Commit:`` line names the commit (nothing depends on
tags). ``built`` checks that commit out with ``git worktree add --detach`` into a directory of the caller's, and
gives it a virtualenv of its own the way that commit's own ``make install`` and ``deploy/Dockerfile`` did: its
``requirements-runtime.lock`` (or ``requirements.lock``), then the package itself, editable, without
dependencies. With ``uv`` (``.venv/bin/uv``, or on the ``PATH``) that takes about two seconds once uv's cache
holds the wheels; without it, ``venv`` and ``pip`` do the same, slower. The worktree is removed on the way out.

    with built(last_release(), tmp_dir) as build:
        stack.start_service("orders", 0, build=build)      # the release's orders
        stack.start_service("orders", 1)                   # this checkout's, in the same group
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from devstack.contract_check import ROOT, Release, releases
from devstack.stack import Build


def last_release(root: Path = ROOT) -> Release:
    """The newest release ``CHANGELOG.md`` lists, with its commit."""
    found = releases((root / "CHANGELOG.md").read_text())
    if not found:
        raise LookupError("CHANGELOG.md lists no release")
    return found[0]


def _run(*args: str | Path, cwd: Path = ROOT) -> None:
    done = subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, args))} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")


def _uv() -> str | None:
    beside = Path(sys.executable).parent / "uv"
    return str(beside) if beside.exists() else shutil.which("uv")


def virtualenv(source: Path, venv: Path) -> Path:
    """A virtualenv at ``venv`` with ``source``'s locked runtime dependencies and ``source`` itself; its python."""
    lock = source / "requirements-runtime.lock"
    locked = ["--require-hashes", "-r", str(lock)] if lock.exists() else ["-r", str(source / "requirements.lock")]
    python = venv / "bin" / "python"
    uv = _uv()
    if uv is not None:
        _run(uv, "venv", "--quiet", "--python", sys.executable, venv)
        _run(uv, "pip", "install", "--quiet", "--python", python, "--no-deps", *locked)
        _run(uv, "pip", "install", "--quiet", "--python", python, "--no-deps", "-e", source)
    else:
        _run(sys.executable, "-m", "venv", venv)
        _run(python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps", *locked)
        _run(python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps", "-e", source)
    return python


@contextmanager
def built(release: Release, into: Path, root: Path = ROOT) -> Iterator[Build]:
    """``release``'s commit checked out under ``into/src`` with its virtualenv under ``into/venv``."""
    source = into / "src"
    _run("git", "worktree", "prune", cwd=root)  # a worktree whose directory is gone (a killed run) is forgotten
    try:
        _run("git", "worktree", "add", "--detach", source, release.commit, cwd=root)
    except RuntimeError as failed:
        raise RuntimeError(f"release {release.version}'s commit {release.commit} cannot be checked out (not in "
                           f"this clone's history? a shallow clone needs `git fetch --unshallow`): {failed}") from None
    try:
        yield Build(virtualenv(source, into / "venv"), source)
    finally:
        _run("git", "worktree", "remove", "--force", source, cwd=root)
