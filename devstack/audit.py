"""``python -m devstack.audit``: pip-audit of ``requirements.lock`` that cannot pass by auditing nothing.

pip-audit exits 0 and prints "No known vulnerabilities found" when it could not look a package up
(no network, a registry mirror without the JSON API): every such package is only *skipped*. This
wrapper reads pip-audit's JSON and says what was and was not audited:

* a known vulnerability fails (exit 1);
* packages that could not be audited are listed, and fail only with ``AUDIT_STRICT=1`` (CI, where
  the vulnerability database is reachable); offline (``make lint`` on a plane) it is a loud warning,
  never a silent pass;
* pip-audit itself failing (no network at all) is treated the same way.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any


def audit(lock: Path, strict: bool) -> int:
    command = [str(Path(sys.executable).parent / "pip-audit"), "--requirement", str(lock), "--disable-pip",
               "--no-deps", "--progress-spinner", "off", "--format", "json"]
    done = subprocess.run(command, capture_output=True, text=True)
    try:
        report: dict[str, Any] = json.loads(done.stdout)
    except json.JSONDecodeError:
        print(f"audit: pip-audit did not run ({done.returncode}): {done.stderr.strip()[-500:]}", file=sys.stderr)
        print("audit: NOT AUDITED - no vulnerability database reachable", file=sys.stderr)
        return 1 if strict else 0
    dependencies = report.get("dependencies", [])
    vulnerable = [d for d in dependencies if d.get("vulns")]
    skipped = [d for d in dependencies if d.get("skip_reason")]
    audited = len(dependencies) - len(skipped)
    for dep in vulnerable:
        for vuln in dep["vulns"]:
            fixes = ", ".join(vuln.get("fix_versions") or []) or "no fix yet"
            print(f"audit: {dep['name']} {dep.get('version', '')}: {vuln.get('id')} (fixed in {fixes})")
    print(f"audit: {audited} of {len(dependencies)} locked packages audited, {len(vulnerable)} with known "
          f"vulnerabilities, {len(skipped)} could not be audited")
    if vulnerable:
        return 1
    if skipped:
        names = ", ".join(d["name"] for d in skipped[:8]) + (" ..." if len(skipped) > 8 else "")
        print(f"audit: NOT AUDITED: {names} ({skipped[0]['skip_reason']}); set AUDIT_STRICT=1 to fail on this",
              file=sys.stderr)
        return 1 if strict else 0
    return 0


if __name__ == "__main__":
    raise SystemExit(audit(Path(sys.argv[1] if len(sys.argv) > 1 else "requirements.lock"),
                           strict=os.environ.get("AUDIT_STRICT", "") == "1"))
