"""nlu_fallback: offer the two likeliest topics as buttons; a second miss hands over to a person."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import FollowupAction
from rasa_sdk.executor import CollectingDispatcher

from actions._support import IncidentStateMixin, send
from bot.conversation.answers import clarify, consecutive_fallbacks
from bot.knowledge.catalogue import TOPIC_INTENTS


def topic_titles(domain: dict[str, Any]) -> dict[str, str]:
    """Button titles live in the domain as utter_topic_<intent> responses."""
    responses = domain.get("responses") or {}
    titles = {}
    for intent in TOPIC_INTENTS:
        variants = responses.get(f"utter_topic_{intent}") or []
        if variants and isinstance(variants[0], dict) and variants[0].get("text"):
            titles[intent] = str(variants[0]["text"])
    return titles


class ActionClarify(IncidentStateMixin, Action):
    def name(self) -> str:
        return "action_clarify"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        intents = [
            (e.get("parse_data") or {}).get("intent", {}).get("name")
            for e in tracker.events
            if e.get("event") == "user"
        ]
        ranking = tracker.latest_message.get("intent_ranking") or []
        replies = clarify(ranking, consecutive_fallbacks(intents), topic_titles(domain))
        send(dispatcher, replies)
        if replies[0].response == "utter_clarify_failed":
            return [FollowupAction("action_human_contact")]  # the escalation form
        return []
