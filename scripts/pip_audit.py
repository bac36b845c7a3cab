"""Dependency audit for `make test`: pip-audit over the installed virtual environment, against PyPI.

Why a wrapper and not a bare ``pip-audit`` line: pip-audit's PyPI service reads each release's JSON
(``/pypi/<name>/<version>/json``) and, when that answers 404, *skips* the package as "not found on
PyPI" and still exits 0 with "No known vulnerabilities found". Behind a registry proxy that serves
the package index but not that JSON (this project's CI network is one), every package is skipped
and the audit would pass having checked nothing. So this script reads pip-audit's JSON report and
tells the three outcomes apart:

- known vulnerabilities (not ignored below)  -> exit 1: CI fails, each one listed with its fix;
- every package checked, none vulnerable       -> exit 0;
- some or all packages could not be checked    -> a loud ``DEPENDENCY AUDIT INCOMPLETE`` message
  naming how many and why, exit 0: a registry outage or a proxy must not block every merge, but it
  must never read as a clean audit. ``KOOPSUZ_AUDIT_STRICT=1`` (release builds) makes it exit 3.

Only the venv's own packages are audited (``--local``): the venv sees Debian's python3-* packages
through ``--system-site-packages`` (GStreamer bindings), and those are patched by Debian's security
updates, not by pins here. koopsuz itself (editable) is not on PyPI and is skipped.

The report is kept in ``artifacts/pip-audit.json`` for CI.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REPORT = ROOT / "artifacts" / "pip-audit.json"
TIMEOUT_S = 240

# Known vulnerabilities that have no fixed release yet, each with why it does not apply or is
# accepted. Every entry must name the advisory id and a reason; nothing is ignored wholesale.
IGNORED: dict[str, str] = {}


def run_pip_audit() -> tuple[int, str]:
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.unlink(missing_ok=True)
    cmd = [
        str(Path(sys.executable).parent / "pip-audit"),
        "--vulnerability-service", "pypi",
        "--local",
        "--skip-editable",
        "--progress-spinner", "off",
        "--timeout", "10",
        "--format", "json",
        "--output", str(REPORT),
    ]
    for vuln_id in IGNORED:
        cmd += ["--ignore-vuln", vuln_id]
    # ~6 s when PyPI answers; bounded so a registry that hangs cannot eat CI's 90 minutes
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S)
    return proc.returncode, (proc.stderr or "") + (proc.stdout or "")


def main() -> int:
    strict = os.environ.get("KOOPSUZ_AUDIT_STRICT", "") not in ("", "0")
    incomplete_code = 3 if strict else 0
    try:
        rc, text = run_pip_audit()
    except (OSError, subprocess.TimeoutExpired) as e:
        print(f"DEPENDENCY AUDIT NOT RUN: pip-audit could not be started or did not finish ({e})")
        return incomplete_code
    try:
        report = json.loads(REPORT.read_text())
    except (OSError, ValueError):
        tail = "\n".join(text.strip().splitlines()[-8:])
        print("DEPENDENCY AUDIT NOT DONE: pip-audit wrote no report; PyPI's vulnerability data could not be read.")
        print(f"pip-audit exit code {rc}; its last words:\n{tail}")
        return incomplete_code
    deps = report.get("dependencies", [])
    editable = [d for d in deps if "editable" in str(d.get("skip_reason", ""))]
    skipped = [d for d in deps if d.get("skip_reason") and d not in editable]
    checked = [d for d in deps if not d.get("skip_reason")]
    vulnerable = [d for d in checked if d.get("vulns")]
    for d in vulnerable:
        for v in d["vulns"]:
            fix = ", ".join(v.get("fix_versions") or []) or "no fixed release yet"
            print(f"VULNERABLE {d['name']} {d['version']}: {v['id']} (fixed in: {fix})")
    if vulnerable:
        n = sum(len(d["vulns"]) for d in vulnerable)
        print(
            f"dependency audit FAILED: {n} known vulnerabilities in {len(vulnerable)} packages. Upgrade the pin in "
            "pyproject.toml, or, only when no fix exists, add the id with a reason to IGNORED in scripts/pip_audit.py."
        )
        return 1
    if skipped:
        reasons = sorted({str(d["skip_reason"]).split(":")[0] for d in skipped})
        print(
            f"DEPENDENCY AUDIT INCOMPLETE: {len(skipped)} of {len(skipped) + len(checked)} packages could not be "
            f"checked against PyPI's vulnerability data ({'; '.join(reasons)}). A registry outage, or a proxy that "
            "serves the package index but not PyPI's per-release JSON, looks like this. This is NOT a clean audit: "
            "run `.venv/bin/python scripts/pip_audit.py` where pypi.org answers"
            + (" (KOOPSUZ_AUDIT_STRICT is set: failing)." if strict else " (set KOOPSUZ_AUDIT_STRICT=1 to fail here).")
        )
        if checked:
            print(f"the {len(checked)} packages that were checked have no known vulnerabilities")
        return incomplete_code
    print(f"dependency audit: {len(checked)} packages checked against PyPI, no known vulnerabilities")
    if IGNORED:
        print(f"ignored on purpose (see scripts/pip_audit.py): {', '.join(IGNORED)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
