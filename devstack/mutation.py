"""`make mutation`: mutmut over the pure decision modules, killed by ``tests/unit`` alone.

mutmut 3 writes its mutants next to the code it mutates (``mutants/``) and reads the tree it starts in,
so this runs it in a copy under ``.devstack/mutation``: the working tree stays clean while other work
goes on in it, and the run sees one consistent snapshot of the code. The modules it mutates are
``[tool.mutmut] only_mutate`` in pyproject.toml.

A surviving mutant is either killed by a new unit test or named in docs/mutation.md as equivalent
(a line ``- `mutant.name`: why``); the equivalent ones are left out of the score. The run ends with

    mutation score N% (killed K of M) over <modules>

and exits 1 when the score is under ``MUTATION_MIN`` (85 unless set) or a listed mutant was killed or
no longer exists (the list must stay true).

    python -m devstack.mutation            # a fresh run
    python -m devstack.mutation --keep     # keep the last run's kills, try its survivors again
    python -m devstack.mutation --head     # the last commit, whatever the working tree holds
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / ".devstack" / "mutation"
DOC = ROOT / "docs" / "mutation.md"
#: folders copied afresh on every run (with ``--keep`` too): a file deleted since is gone from the run's tree
COPIED = ("services", "shared", "devstack", "backorder_cli", "bench", "tests", "docs")
#: a listed equivalent mutant in docs/mutation.md
EQUIVALENT = re.compile(r"^- `([\w.]+__mutmut_\d+)`", re.MULTILINE)
RESULT = re.compile(r"^\s+([\w.]+__mutmut_\d+): (.+)$", re.MULTILINE)


def modules() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mutmut"]
    return list(config["only_mutate"])


def equivalent_mutants() -> set[str]:
    return set(EQUIVALENT.findall(DOC.read_text())) if DOC.exists() else set()


def prepare(keep: bool, head: bool) -> None:
    """Copy the repository's files (the working tree's, or with ``head`` the last commit's) into the run's tree;
    with ``keep`` mutmut's earlier results stay."""
    if not keep and WORK.exists():
        shutil.rmtree(WORK)
    WORK.mkdir(parents=True, exist_ok=True)
    for stale in COPIED:
        target = WORK / stale
        if target.is_dir():
            shutil.rmtree(target)
    if head:
        archive = subprocess.run(["git", "archive", "HEAD"], cwd=ROOT, check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(WORK)], input=archive, check=True)
        return
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            check=True, capture_output=True, text=True).stdout
    for name in filter(None, listed.split("\0")):
        source, target = ROOT / name, WORK / name
        if source.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def mutmut(*args: str, capture: bool = False) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "mutmut", *args],
        cwd=WORK,
        check=True,
        text=True,
        stdout=subprocess.PIPE if capture else None,
    )
    return done.stdout or ""


def statuses() -> dict[str, str]:
    """Each mutant's outcome, as ``mutmut results --all true`` prints it."""
    return dict(RESULT.findall(mutmut("results", "--all", "true", capture=True)))


def score(outcomes: dict[str, str], equivalent: set[str]) -> tuple[int, int, list[str]]:
    """(killed, counted, problems): equivalent mutants are left out of the count; a listed one that was
    killed or no longer exists is a problem, so docs/mutation.md cannot go stale unnoticed."""
    problems = [f"{name} is listed as equivalent but no longer exists" for name in equivalent - outcomes.keys()]
    problems += [
        f"{name} is listed as equivalent but was killed"
        for name in equivalent & outcomes.keys()
        if outcomes[name] == "killed"
    ]
    counted = {name: status for name, status in outcomes.items() if name not in equivalent}
    # a mutant that hangs the tests (timeout) is caught as surely as one that fails them
    killed = sum(status in ("killed", "timeout") for status in counted.values())
    return killed, len(counted), problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keep", action="store_true", help="keep the last run's kills, try its survivors again")
    parser.add_argument("--head", action="store_true", help="mutate the last commit, not the working tree")
    parser.add_argument("--children", type=int, default=os.cpu_count() or 2, help="mutants tested at once")
    args = parser.parse_args(argv)
    # with --keep, the mutants the last run did not kill are tried again (by name: mutmut keeps every other
    # result), against the tests as they are now; the rest of a fresh tree's mutants run as usual
    again = sorted(name for name, status in statuses().items() if status not in ("killed", "timeout")) \
        if args.keep and (WORK / "mutants").is_dir() else []
    prepare(args.keep, args.head)
    mutmut("run", "--max-children", str(args.children))
    current = statuses() if again else {}
    again = [name for name in again if current.get(name) not in (None, "killed", "timeout")]
    if again:
        mutmut("run", "--max-children", str(args.children), *again)
    outcomes = statuses()
    equivalent = equivalent_mutants()
    killed, counted, problems = score(outcomes, equivalent)
    survivors = sorted(
        name for name, status in outcomes.items() if name not in equivalent and status not in ("killed", "timeout")
    )
    tally = Counter(outcomes[name] for name in survivors)
    for name in survivors:
        print(f"  {outcomes[name]}: {name}  (python -m mutmut show {name}, in {WORK.relative_to(ROOT)})")
    if tally:
        print("not killed:", ", ".join(f"{count} {status}" for status, count in sorted(tally.items())))
    for problem in problems:
        print(problem)
    percent = 100 * killed // counted if counted else 0
    print(f"mutation score {percent}% (killed {killed} of {counted}) over {', '.join(modules())}")
    return 0 if percent >= int(os.environ.get("MUTATION_MIN", "85")) and not problems else 1


if __name__ == "__main__":
    sys.exit(main())
