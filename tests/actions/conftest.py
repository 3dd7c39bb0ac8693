"""Action fixtures: a tracker built with Tracker.from_dict, a dispatcher, and injected state."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import Engine

from bot.conversation.backend import Backend
from bot.core.limits import escalation_limiters
from bot.core.settings import PROJECT_ROOT, Settings, load_settings
from bot.knowledge.file import KnowledgeSource
from tests.conftest import NOW

TrackerFactory = Callable[..., Tracker]


@pytest.fixture(scope="session")
def domain() -> dict[str, Any]:
    return yaml.safe_load((PROJECT_ROOT / "bot" / "domain.yml").read_text(encoding="utf-8"))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings({"VAR_DIR": str(tmp_path)}, dotenv_path=Path("/nonexistent"))


@pytest.fixture
def state(engine: Engine, demo: int, settings: Settings) -> dict[str, Any]:
    """Constructor arguments that point an action at the test database and a fixed clock."""
    return {
        "store": Backend(engine, clock=lambda: NOW),
        "knowledge": KnowledgeSource(PROJECT_ROOT / "bot" / "knowledge.yml"),
        "settings": settings,
        "escalation_limits": escalation_limiters(
            None, settings.escalation_client_limit, settings.escalation_contact_limit
        ),
    }


@pytest.fixture
def tracker() -> TrackerFactory:
    def make(
        intent: str | None,
        text: str = "",
        entities: list[dict[str, Any]] | None = None,
        slots: dict[str, Any] | None = None,
        events: list[dict[str, Any]] | None = None,
        ranking: list[dict[str, Any]] | None = None,
        urgency: str | None = None,
    ) -> Tracker:
        latest: dict[str, Any] = {
            "intent": {"name": intent, "confidence": 0.9} if intent else {},
            "entities": entities or [],
            "text": text,
            "intent_ranking": ranking or [],
        }
        if urgency is not None:  # what rasa_plugins.components.UrgencyClassifier heard
            latest["urgency"] = {"name": urgency, "confidence": 0.9}
        return Tracker.from_dict(
            {
                "sender_id": "test-user",
                "slots": slots or {},
                "latest_message": latest,
                "events": events or [{"event": "user", "text": text, "parse_data": latest}],
                "paused": False,
                "followup_action": None,
                "active_loop": {},
                "latest_action_name": "action_listen",
            }
        )

    return make


def sent(dispatcher: CollectingDispatcher) -> list[str]:
    """The responses an action sent, in order, including those a web bubble is made of."""
    return [name for m in dispatcher.messages for name in (m.get("responses") or [m.get("response")])]


def said(dispatcher: CollectingDispatcher) -> str:
    """Every message's text as the customer reads it, responses rendered from the domain."""
    return "\n".join(str(m.get("text") or "") for m in dispatcher.messages)
