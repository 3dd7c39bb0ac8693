"""`make audit`: pip-audit over both virtual environments, and a plain word when it could not.

pip-audit asks PyPI's JSON API for each installed version's known vulnerabilities. Where
that API is not reachable (a registry mirror, no network), every package comes back
"could not be audited"; that is reported as "not audited", never as "no vulnerabilities".
Exit codes: 0 audited and clean, 1 vulnerabilities found, 3 not audited.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENVIRONMENTS = {"project (.venv)": ROOT / ".venv", "Rasa (.venv-rasa)": ROOT / ".venv-rasa"}


def audit(site_packages: Path) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-m", "pip_audit", "--path", str(site_packages), "--progress-spinner", "off", "-f", "json"],
        capture_output=True,
        text=True,
        timeout=900,
    )
    try:
        return json.loads(done.stdout)  # type: ignore[no-any-return]
    except json.JSONDecodeError:
        return {"error": (done.stderr or done.stdout).strip()[-500:]}


def main() -> int:
    worst = 0
    for label, venv in ENVIRONMENTS.items():
        found = sorted(venv.glob("lib/python3*/site-packages"))
        if not found:
            print(f"{label}: not installed (run make setup)")
            worst = max(worst, 3)
            continue
        report = audit(found[0])
        if "error" in report:
            print(f"{label}: NOT AUDITED: pip-audit failed: {report['error']}")
            worst = max(worst, 3)
            continue
        deps = report.get("dependencies", [])
        assert isinstance(deps, list)
        skipped = [d for d in deps if d.get("skip_reason")]
        vulnerable = [d for d in deps if d.get("vulns")]
        audited = len(deps) - len(skipped)
        if audited == 0:
            print(
                f"{label}: NOT AUDITED: none of {len(deps)} packages could be looked up; the vulnerability "
                "database (PyPI's JSON API) is not reachable from this machine"
            )
            worst = max(worst, 3)
            continue
        print(f"{label}: {audited} of {len(deps)} packages audited, {len(vulnerable)} with known vulnerabilities")
        for dep in vulnerable:
            ids = ", ".join(v["id"] for v in dep["vulns"])
            print(f"  {dep['name']} {dep.get('version')}: {ids}")
        for dep in skipped:
            print(f"  not audited: {dep['name']} ({dep['skip_reason']})")
        if vulnerable:
            worst = max(worst, 1)
    print("See docs/dependencies.md for what is pinned and why.")
    return worst


if __name__ == "__main__":
    sys.exit(main())
