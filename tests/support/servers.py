"""Throwaway assistants for the tests and the benchmarks: an environment of their own, and the
REST channel to talk to them. They start through bot.ops.servers, as `make run` does."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

import httpx

from bot.core.settings import PROJECT_ROOT
from bot.ops.servers import SOCIAL, Servers, free_port


def isolated_env(var: Path, **overrides: str) -> dict[str, str]:
    """An environment for one throwaway assistant: its own files, ports and token under `var`."""
    return {
        **os.environ,
        "APP_ENV": "test",
        "VAR_DIR": str(var),
        "DATABASE_URL": f"sqlite:///{var / 'outage.db'}",
        "TRACKER_STORE_URL": f"sqlite:///{var / 'tracker.db'}",
        # Explicit, so that a developer's .env cannot point a throwaway assistant at shared servers.
        "LOCK_STORE": "in_memory",
        "KNOWLEDGE_FILE": str(PROJECT_ROOT / "bot" / "knowledge.yml"),
        "TIMEZONE": "Pacific/Auckland",
        "RASA_AUTH_TOKEN": "test-" + secrets.token_hex(16),
        "ACTION_PORT": str(free_port()),
        "RASA_PORT": str(free_port()),
        "WEB_PORT": str(free_port()),
        # Tests change the store and ask at once; the cache has tests of its own.
        "STATE_TTL_SECONDS": "0",
        "STATUSPAGE_URL": "",
        "STATUSPAGE_WEBHOOK_SECRET": "",
        # No social channel unless a test configures one.
        **{var: "" for required, optional in SOCIAL.values() for var in (*required.values(), *optional.values())},
        "PYTHONUNBUFFERED": "1",
        **overrides,
    }


def post(servers: Servers, sender: str, message: Any, client: httpx.Client | None = None) -> httpx.Response:
    """One message on the REST channel of `servers`' Rasa, as a customer sends it."""
    payload = {"sender": sender, "message": message}
    url = f"{servers.rasa_url}/webhooks/rest/webhook"
    if client is not None:
        return client.post(url, json=payload)
    return httpx.post(url, json=payload, timeout=60)
