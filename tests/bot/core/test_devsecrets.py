"""Shared secrets: configured ones win; in development one is made once, kept, owner-only."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.core.devsecrets import action_token, chat_secret, local_secret, rasa_token
from bot.core.errors import ConfigurationError
from bot.core.settings import load_settings

NO_FILE = Path("/nonexistent")


def test_a_local_secret_is_made_once_and_readable_by_the_owner_only(tmp_path: Path) -> None:
    first = local_secret(tmp_path, "action-token")
    assert len(first) >= 40 and local_secret(tmp_path, "action-token") == first
    assert (tmp_path / "action-token").stat().st_mode & 0o777 == 0o600
    assert local_secret(tmp_path, "chat-secret") != first


def test_configured_secrets_win(tmp_path: Path) -> None:
    env = {
        "VAR_DIR": str(tmp_path),
        "RASA_AUTH_TOKEN": "r" * 30,
        "ACTION_SERVER_TOKEN": "a" * 30,
        "CHAT_SECRET": "c" * 30,
    }
    settings = load_settings(env, dotenv_path=NO_FILE)
    assert (rasa_token(settings), action_token(settings), chat_secret(settings)) == ("r" * 30, "a" * 30, "c" * 30)
    assert not list(tmp_path.iterdir())  # nothing generated


def test_outside_development_the_rasa_token_is_never_generated(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="RASA_AUTH_TOKEN"):
        load_settings({"VAR_DIR": str(tmp_path), "APP_ENV": "test", "RASA_AUTH_TOKEN": ""}, dotenv_path=NO_FILE)
    assert not (tmp_path / "rasa-token").exists()
