"""Running a test's script in Rasa's own environment (.venv-rasa), where rasa_plugins runs."""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

import pytest

from bot.core.settings import PROJECT_ROOT

RASA_PYTHON = PROJECT_ROOT / ".venv-rasa" / "bin" / "python"


def run_in_rasa(script: str, tmp_path: Path) -> str:
    if not RASA_PYTHON.is_file():
        pytest.skip("Rasa's environment is not installed (make setup)")
    done = subprocess.run(
        [str(RASA_PYTHON), "-c", textwrap.dedent(script), str(tmp_path)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PATH": "/usr/bin:/bin", "SQLALCHEMY_SILENCE_UBER_WARNING": "1", "RASA_TELEMETRY_ENABLED": "false"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout
