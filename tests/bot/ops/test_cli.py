"""The operator command line: plain errors, tokens shown once, and every write audited."""

from __future__ import annotations

import getpass
import io
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.db.engine import make_engine, make_session_factory
from bot.db.models import AuditEntry


def test_cli_reports_errors_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.ops.cli import main

    monkeypatch.setenv("VAR_DIR", str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    assert main(["seed"]) == 0
    assert main(["resolve", "999", "--message", "x"]) == 2
    assert "no incident with id 999" in capsys.readouterr().err
    bad = tmp_path / "bad.yml"
    bad.write_text("incidents: [", encoding="utf-8")
    assert main(["seed", "--scenario", str(bad)]) == 2
    assert main(["seed", "--scenario", "../../etc/passwd"]) == 2
    assert main(["status"]) == 0
    assert "top_up" in capsys.readouterr().out


def test_cli_tokens_are_shown_once_listed_and_revoked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.ops.cli import main

    monkeypatch.setenv("VAR_DIR", str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    assert main(["token", "create", "Mere"]) == 0
    token = capsys.readouterr().out.strip().splitlines()[-1]
    assert token.startswith("oa_") and len(token) > 40
    assert main(["token", "create", "Mere"]) == 2  # names are unique
    assert main(["token", "create", ""]) == 2
    assert main(["token", "list"]) == 0
    listing = capsys.readouterr().out
    assert "Mere" in listing and "active" in listing and token not in listing
    assert main(["token", "revoke", "Mere"]) == 0
    assert main(["token", "revoke", "Mere"]) == 2
    assert main(["token", "list"]) == 0
    assert "revoked" in capsys.readouterr().out


def test_every_cli_write_is_audited_under_the_user_who_ran_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.ops.cli import main

    monkeypatch.setenv("VAR_DIR", str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setattr("sys.stdin", io.StringIO("correct horse battery\n"))
    assert main(["seed"]) == 0
    capsys.readouterr()
    assert main(["status"]) == 0
    incident = int(capsys.readouterr().out.split()[0].lstrip("#"))
    assert main(["resolve", str(incident), "--message", "Back."]) == 0
    assert main(["staff", "create", "tama", "--role", "agent"]) == 0
    assert main(["token", "create", "Mere"]) == 0
    assert main(["token", "revoke", "Mere"]) == 0
    engine = make_engine(f"sqlite:///{tmp_path / 'cli.db'}")
    with make_session_factory(engine)() as session:
        rows = session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
    engine.dispose()
    actions = [r.action for r in rows]
    assert {"create", "resolve", "staff_create", "token_create", "token_revoke"} <= set(actions)
    assert {r.actor for r in rows} == {f"cli:{getpass.getuser()}"}
