"""Low-confidence messages: two likeliest topics as buttons, then an offer of a person."""

from __future__ import annotations

from typing import Any

from rasa_sdk.events import FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.clarify import ActionClarify, ActionOutOfScope, topic_titles
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


async def test_an_unclear_message_about_safety_goes_straight_to_a_person(
    state: dict[str, Any], tracker: TrackerFactory, domain: dict[str, Any]
) -> None:
    d = CollectingDispatcher()
    t = tracker("nlu_fallback", "newborn struggling to breathe and I can't call out", ranking=RANKING, urgency="safety")
    result = await ActionClarify(**state).run(d, t, domain)
    assert d.messages == [] and result == [FollowupAction("action_human_contact")]  # which sends the advice


async def test_an_unclear_time_critical_message_gets_topics_and_an_offer(
    state: dict[str, Any], tracker: TrackerFactory, domain: dict[str, Any]
) -> None:
    d = CollectingDispatcher()
    text = "clients can't get through and that's my rent"
    t = tracker("nlu_fallback", text, ranking=RANKING, urgency="time_critical")
    result = await ActionClarify(**state).run(d, t, domain)
    assert [m["response"] for m in d.messages] == ["utter_clarify", "utter_offer_escalation"]
    assert SlotSet("offered_escalation", True) in result and SlotSet("escalation_reason", text) in result


async def test_out_of_scope_says_so_unless_it_is_urgent(
    state: dict[str, Any], tracker: TrackerFactory, domain: dict[str, Any]
) -> None:
    d = CollectingDispatcher()
    assert await ActionOutOfScope(**state).run(d, tracker("out_of_scope", "what's a good scone recipe"), domain) == []
    assert [m["response"] for m in d.messages] == ["utter_out_of_scope"]

    d = CollectingDispatcher()
    t = tracker("out_of_scope", "my court hearing is by phone at ten", urgency="time_critical")
    await ActionOutOfScope(**state).run(d, t, domain)
    assert [m["response"] for m in d.messages] == ["utter_out_of_scope", "utter_offer_escalation"]

    d = CollectingDispatcher()
    t = tracker("out_of_scope", "he is outside again and I'm scared", urgency="safety")
    assert await ActionOutOfScope(**state).run(d, t, domain) == [FollowupAction("action_human_contact")]
