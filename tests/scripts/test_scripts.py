"""The helper scripts make test relies on: the NLU gate and the Python 3.10 finder."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bot.core.settings import PROJECT_ROOT

GATE = PROJECT_ROOT / "scripts" / "nlu_gate.py"
FINDER = PROJECT_ROOT / "scripts" / "find-python310"


def gate(tmp_path: Path, report: object | bytes, bar: str = "0.90") -> subprocess.CompletedProcess[str]:
    path = tmp_path / "intent_report.json"
    path.write_bytes(report if isinstance(report, bytes) else json.dumps(report).encode())
    return subprocess.run(
        [sys.executable, str(GATE), str(path), "--min-macro-f1", bar], capture_output=True, text=True, check=False
    )


def report(macro: float) -> dict[str, object]:
    return {
        "greet": {"f1-score": 1.0, "support": 3},
        "top_up": {"f1-score": macro, "support": 3},
        "accuracy": 0.9,
        "macro avg": {"f1-score": macro, "support": 6},
    }


def test_gate_passes_at_or_above_the_bar(tmp_path: Path) -> None:
    run = gate(tmp_path, report(0.93))
    assert run.returncode == 0 and "macro-F1 0.930" in run.stdout


def test_gate_fails_below_the_bar(tmp_path: Path) -> None:
    run = gate(tmp_path, report(0.85))
    assert run.returncode == 1 and "FAILED" in run.stderr


@pytest.mark.parametrize(
    "content", [b"", b"\x00\xff", b"[]", b'{"macro avg": {}}', b'{"macro avg": {"f1-score": "x"}}']
)
def test_gate_refuses_unreadable_reports(tmp_path: Path, content: bytes) -> None:
    run = gate(tmp_path, content)
    assert run.returncode == 2 and "cannot read" in run.stderr


def test_finder_prints_a_python_310() -> None:
    run = subprocess.run([str(FINDER)], capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    version = subprocess.run(
        [run.stdout.strip(), "-c", "import sys; print(sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert version.stdout.strip() == "(3, 10)"


def test_finder_explains_when_there_is_none(tmp_path: Path) -> None:
    not_310 = tmp_path / "python3"
    not_310.write_text("#!/bin/sh\nexit 1\n")
    not_310.chmod(0o755)
    env = {"PATH": "/usr/bin:/bin", "PYENV_ROOT": str(tmp_path), "HOME": str(tmp_path), "PYTHON310": str(not_310)}
    run = subprocess.run(["/bin/bash", str(FINDER)], capture_output=True, text=True, env=env, check=False)
    if run.returncode == 0:
        pytest.skip(f"this machine has a system Python 3.10 at {run.stdout.strip()}")
    assert "No Python 3.10 found" in run.stderr and "pyenv install 3.10.13" in run.stderr
