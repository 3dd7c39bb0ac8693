"""Fixtures of the web chat's tests: a Rasa whose REST channel records into a real `events` table."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.core.settings import Settings, load_settings
from tests.tracker_table import TrackerTable


class FakeRasa:
    """Rasa's REST channel: echoes each message with a quick reply, and records both in a real
    `events` table, as Rasa's tracker store would."""

    def __init__(self, tracker: TrackerTable) -> None:
        self.tracker = tracker
        self.received: list[dict[str, Any]] = []
        self.down = False
        self.api_calls = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.api_calls += 1
        if self.down:
            raise httpx.ConnectError("down", request=request)
        if request.url.path == "/webhooks/rest/webhook":
            body = json.loads(request.content)
            self.received.append(body)
            bot = {"text": f"echo: {body['message']}", "buttons": [{"title": "Top-up", "payload": "/top_up"}]}
            self.tracker.insert(body["sender"], "user", {"event": "user", "text": body["message"]})
            self.tracker.insert(body["sender"], "bot", {"event": "bot", "text": bot["text"], "data": bot})
            return httpx.Response(200, json=[{"recipient_id": body["sender"], **bot}])
        return httpx.Response(404, json={})


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings({"VAR_DIR": str(tmp_path), "CHAT_SECRET": "s" * 40}, dotenv_path=Path("/nonexistent"))


@pytest.fixture
def rasa(tmp_path: Path) -> Iterator[FakeRasa]:
    tracker = TrackerTable(tmp_path / "tracker.db")
    yield FakeRasa(tracker)
    tracker.engine.dispose()
