"""Messages the assistant could not place: nlu_fallback offers the two likeliest topics as
buttons, and a second miss hands over to a person; out_of_scope says what it can help with.

Either way an urgent message is not turned away: safety goes straight to a person (with
emergency advice first), and a time-critical one is offered a person after the reply.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import FollowupAction
from rasa_sdk.executor import CollectingDispatcher

from actions.latest import latest_text
from actions.turn import IncidentStateMixin, send, urgency_events
from bot.conversation.dialogue import clarify, consecutive_fallbacks, with_urgency
from bot.conversation.reply import Reply
from bot.core.errors import KnowledgeError
from bot.db.models import Urgency
from bot.knowledge.catalogue import TOPIC_INTENTS
from bot.people.urgency import urgency_of


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
        return await urgent_or(self, dispatcher, tracker, replies)


class ActionOutOfScope(IncidentStateMixin, Action):
    def name(self) -> str:
        return "action_out_of_scope"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        return await urgent_or(self, dispatcher, tracker, [Reply("utter_out_of_scope")])


async def urgent_or(
    action: IncidentStateMixin, dispatcher: CollectingDispatcher, tracker: Tracker, replies: list[Reply]
) -> list[dict[str, Any]]:
    """`replies`, unless the message is urgent: a safety need goes to a person at once (the
    hand-over sends the emergency advice), a time-critical one gets the offer of a person too."""
    try:
        knowledge = action.knowledge.get()
        urgency = urgency_of(latest_text(tracker), knowledge, tracker.latest_message)
    except KnowledgeError:
        knowledge, urgency = None, None
    if replies[0].response == "utter_clarify_failed":
        send(dispatcher, replies)
        return [FollowupAction("action_human_contact")]  # the escalation form
    if urgency is Urgency.SAFETY:
        return [FollowupAction("action_human_contact")]
    if knowledge is not None:
        replies = with_urgency(replies, urgency, knowledge)
    send(dispatcher, replies)
    return urgency_events(tracker, urgency)
