"""Low-confidence messages: two likeliest topics as buttons, then an offer of a person."""

from __future__ import annotations

from typing import Any

from rasa_sdk.events import FollowupAction
from rasa_sdk.executor import CollectingDispatcher

from actions.clarify import ActionClarify, topic_titles
from tests.actions.conftest import TrackerFactory

RANKING = [
    {"name": "nlu_fallback", "confidence": 0.25},
    {"name": "thank", "confidence": 0.2},
    {"name": "top_up", "confidence": 0.15},
    {"name": "pay_bill", "confidence": 0.12},
]


def fallback_event(text: str) -> dict[str, Any]:
    return {"event": "user", "text": text, "parse_data": {"intent": {"name": "nlu_fallback"}}}


async def test_first_miss_offers_two_topic_buttons(
    state: dict[str, Any], tracker: TrackerFactory, domain: dict[str, Any]
) -> None:
    d = CollectingDispatcher()
    await ActionClarify(**state).run(d, tracker("nlu_fallback", "money thing broke", ranking=RANKING), domain)
    (msg,) = d.messages
    assert msg["response"] == "utter_clarify"
    assert [b["payload"] for b in msg["buttons"]] == ["/top_up", "/pay_bill"]
    assert msg["buttons"][0]["title"] == "Topping up prepaid"


async def test_second_miss_in_a_row_hands_over_to_a_person(
    state: dict[str, Any], tracker: TrackerFactory, domain: dict[str, Any]
) -> None:
    d = CollectingDispatcher()
    events = [fallback_event("huh"), {"event": "bot", "text": "?"}, fallback_event("wat")]
    result = await ActionClarify(**state).run(d, tracker("nlu_fallback", "wat", ranking=RANKING, events=events), domain)
    assert [m["response"] for m in d.messages] == ["utter_clarify_failed"]
    assert result == [FollowupAction("action_human_contact")]  # which starts the escalation form


def test_every_topic_has_a_button_title(domain: dict[str, Any]) -> None:
    from bot.knowledge.catalogue import TOPIC_INTENTS

    assert set(topic_titles(domain)) == set(TOPIC_INTENTS)
