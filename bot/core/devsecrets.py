"""The secrets shared between our processes: configured, or in development and tests made
once and kept under var/ (readable by the owner only)."""

from __future__ import annotations

import secrets
from pathlib import Path

from bot.core.settings import Settings


def local_secret(var_dir: Path, name: str) -> str:
    """A random secret in `var_dir/name`, made on first use."""
    path = var_dir / name
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(32), encoding="utf-8")
        path.chmod(0o600)
    return path.read_text(encoding="utf-8").strip()


def rasa_token(settings: Settings) -> str:
    """The token of Rasa's HTTP API. Outside development load_settings already refused to
    start without RASA_AUTH_TOKEN, so only development ever generates one."""
    return settings.rasa_auth_token or local_secret(settings.var_dir, "rasa-token")


def action_token(settings: Settings) -> str:
    """The secret Rasa sends the action server (ACTION_SERVER_TOKEN; required in production)."""
    return settings.action_server_token or local_secret(settings.var_dir, "action-token")


def chat_secret(settings: Settings) -> str:
    """The key that signs the web chat's conversation cookies (CHAT_SECRET)."""
    return settings.chat_secret or local_secret(settings.var_dir, "chat-secret")
