"""What the latest customer message said, read from the tracker as rasa-sdk gives it."""

from __future__ import annotations

from rasa_sdk import Tracker


def latest_text(tracker: Tracker) -> str:
    text = tracker.latest_message.get("text")
    return text if isinstance(text, str) else ""


def latest_intent(tracker: Tracker) -> str | None:
    intent = tracker.latest_message.get("intent") or {}
    name = intent.get("name") if isinstance(intent, dict) else None
    return name if isinstance(name, str) else None
