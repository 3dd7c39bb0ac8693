"""The turn policy (actions.turn): what every answer does besides its own content."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.orm import Session

from actions.turn import IncidentStateMixin
from bot.conversation.answers import Context, service_answer
from bot.conversation.backend import Backend
from bot.conversation.notify import enqueue_due, subscribe
from bot.conversation.reply import Reply
from bot.core.errors import IncidentSourceError
from bot.incidents.writes import post_update
from tests.actions.conftest import TrackerFactory, sent
from tests.conftest import NOW


class Answers(IncidentStateMixin):
    """The smallest action: it answers with whatever `build` makes, through the policy."""

    def __init__(self, build: Any, **state: Any) -> None:
        super().__init__(**state)
        self.build = build

    async def run(self, d: CollectingDispatcher, t: Tracker, domain: dict[str, Any]) -> list[dict[str, Any]] | None:
        return await self.respond(d, t, self.build, domain)


def saying(*responses: str) -> Any:
    return lambda ctx: [Reply(r) for r in responses]


def slots(events: Sequence[dict[str, Any]] | None) -> dict[str, Any]:
    return {e["name"]: e["value"] for e in events or [] if e.get("event") == "slot"}


async def test_a_plain_answer_is_sent_as_built(state: dict[str, Any], tracker: TrackerFactory) -> None:
    d = CollectingDispatcher()
    events = await Answers(saying("utter_checked", "utter_connectivity_ok"), **state).run(d, tracker("x", "hi"), {})
    assert sent(d) == ["utter_checked", "utter_connectivity_ok"]
    assert events == []


async def test_safety_gets_emergency_advice_first_and_one_offer_after(
    state: dict[str, Any], tracker: TrackerFactory, domain: dict[str, Any]
) -> None:
    d = CollectingDispatcher()
    build = saying("utter_connectivity_ok", "utter_compensation_offer")
    events = await Answers(build, **state).run(d, tracker("x", "my phone is down", urgency="safety"), domain)
    assert sent(d) == ["utter_emergency_help", "utter_connectivity_ok", "utter_offer_escalation"]
    assert "call 111 now" in d.messages[0]["text"]  # from the knowledge file, in a bubble of its own
    assert slots(events) == {"offered_escalation": True, "escalation_urgency": "safety"}


async def test_a_time_critical_message_is_offered_a_person_and_kept_as_the_reason(
    state: dict[str, Any], tracker: TrackerFactory
) -> None:
    d = CollectingDispatcher()
    words = "I'll lose the house sale if I can't get my email today"
    events = await Answers(saying("utter_checked"), **state).run(d, tracker("x", words, urgency="time_critical"), {})
    assert sent(d) == ["utter_checked", "utter_offer_escalation"]
    assert slots(events) == {"offered_escalation": True, "escalation_reason": words}


async def test_an_offer_not_taken_lapses_with_the_next_unurgent_message(
    state: dict[str, Any], tracker: TrackerFactory
) -> None:
    d = CollectingDispatcher()
    t = tracker("x", "ok what about roaming", slots={"offered_escalation": True, "escalation_reason": "urgent"})
    events = await Answers(saying("utter_checked"), **state).run(d, t, {})
    assert slots(events) == {"offered_escalation": False, "escalation_reason": None}


async def test_updates_quoted_in_full_are_remembered_once(state: dict[str, Any], tracker: TrackerFactory) -> None:
    def build(ctx: Context) -> list[Reply]:
        return [Reply("utter_latest_update", quotes="abc"), Reply("utter_checked")]

    d = CollectingDispatcher()
    events = await Answers(build, **state).run(d, tracker("x", "top up?"), {})
    assert slots(events) == {"quoted_updates": ["abc"]}
    d = CollectingDispatcher()
    again = await Answers(build, **state).run(d, tracker("x", "top up?", slots={"quoted_updates": ["abc"]}), {})
    assert slots(again) == {}


async def test_news_the_conversation_asked_for_comes_before_the_answer(
    state: dict[str, Any], tracker: TrackerFactory, session: Session, demo: int
) -> None:
    subscribe(session, "test-user", "rest", "top_up", NOW)
    post_update(session, demo, message="Top-ups: fix being tested.", now=NOW, service_keys=["top_up"], actor="test")
    enqueue_due(session, NOW)
    session.commit()
    d = CollectingDispatcher()
    await Answers(saying("utter_checked"), **state).run(d, tracker("x", "any news?"), {})
    assert sent(d) == ["utter_notify_update", "utter_checked"]
    assert d.messages[0]["update_message"] == "Top-ups: fix being tested."


async def test_a_short_channel_gets_one_message_and_keeps_the_rest_for_more(
    state: dict[str, Any], tracker: TrackerFactory, domain: dict[str, Any]
) -> None:
    latest = {"intent": {"name": "top_up", "confidence": 0.9}, "entities": [], "text": "top up"}
    t = tracker(
        "top_up",
        "top up",
        events=[{"event": "user", "text": "top up", "parse_data": latest, "input_channel": "twilio"}],
    )
    d = CollectingDispatcher()
    events = await Answers(lambda ctx: service_answer(ctx, "top_up"), **state).run(d, t, domain)
    assert len(d.messages) == 1 and "Prepaid top-up" in d.messages[0]["text"]
    assert slots(events)["more_replies"]  # the rest waits for MORE


async def test_a_source_error_sends_the_fallback_and_no_events(
    state: dict[str, Any], tracker: TrackerFactory, tmp_path: Any
) -> None:
    def fail(ctx: Context) -> list[Reply]:
        raise IncidentSourceError("database is locked")

    d = CollectingDispatcher()
    assert await Answers(fail, **state).run(d, tracker("x", "top up?"), {}) is None
    assert sent(d) == ["utter_state_unavailable"]


async def test_the_store_unreachable_still_gets_a_reply(state: dict[str, Any], tracker: TrackerFactory) -> None:
    class Down(Backend):
        async def overview(self) -> Any:
            raise IncidentSourceError("refused")

    d = CollectingDispatcher()
    store = Down(state["store"].engine)
    assert await Answers(saying("utter_checked"), **{**state, "store": store}).run(d, tracker("x", "?"), {}) is None
    assert sent(d) == ["utter_state_unavailable"]
