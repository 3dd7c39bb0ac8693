"""The escalation actions: start the form, validate each answer, commit before confirming."""

from __future__ import annotations

from typing import Any

from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import func, select

from actions.contact import ActionDeliverNotification
from actions.escalation import (
    ActionHumanContact,
    ActionQueueWait,
    ActionRefileEscalation,
    ActionSubmitEscalation,
    ValidateEscalationForm,
)
from bot.conversation.backend import Backend
from bot.db.engine import make_engine
from bot.db.models import Escalation
from bot.people.closing import close_linked
from tests.actions.conftest import TrackerFactory, sent
from tests.conftest import NOW

FILLED = {
    "escalation_contact": "0211234567",
    "escalation_need": "Divert my business line today.",
    "escalation_urgency": "time_critical",
}


def rows(state: dict[str, Any]) -> int:
    with state["store"].sessions() as s:
        return int(s.scalar(select(func.count(Escalation.id))) or 0)


async def test_asking_for_a_person_starts_the_form(
    state: dict[str, Any], tracker: TrackerFactory, domain: dict[str, Any]
) -> None:
    d = CollectingDispatcher()
    events = await ActionHumanContact(**state).run(d, tracker("request_human", "a person please"), domain)
    assert sent(d) == ["utter_escalation_intro"]
    assert SlotSet("escalation_trigger", "request_human") in events
    assert events[-1] == SlotSet("escalation_open", False)  # the rules start the form


async def test_safety_gets_emergency_help_at_once_and_top_priority(
    state: dict[str, Any], tracker: TrackerFactory, domain: dict[str, Any]
) -> None:
    d = CollectingDispatcher()
    text = "I need someone, my dad's medical alarm runs on this landline"
    events = await ActionHumanContact(**state).run(d, tracker("request_human", text), domain)
    assert sent(d) == ["utter_emergency_help", "utter_escalation_intro"]
    assert "111" in d.messages[0]["emergency"]
    assert SlotSet("escalation_urgency", "safety") in events


async def test_validation_of_each_answer(
    state: dict[str, Any], tracker: TrackerFactory, domain: dict[str, Any]
) -> None:
    form = ValidateEscalationForm(**state)
    d = CollectingDispatcher()
    assert await form.validate_escalation_contact("call me", d, tracker(None, "call me"), domain) == {
        "escalation_contact": None
    }
    assert sent(d) == ["utter_escalation_contact_invalid"]
    ok = await form.validate_escalation_contact("021 123 4567", d, tracker(None, "021 123 4567"), domain)
    assert ok == {"escalation_contact": "0211234567"}
    cancel = await form.validate_escalation_contact("cancel", d, tracker(None, "cancel"), domain)
    assert cancel["requested_slot"] is None and cancel["escalation_contact"] is None

    d = CollectingDispatcher()
    need = "My nana's personal alarm uses the landline"
    slots = await form.validate_escalation_need(need, d, tracker(None, need), domain)
    assert slots == {"escalation_need": need, "escalation_urgency": "safety"} and sent(d) == ["utter_emergency_help"]

    answer = "yes, job interview call at 3pm today"
    slots = await form.validate_escalation_urgency(answer, d, tracker(None, answer), domain)
    assert slots == {"escalation_urgency": "time_critical", "escalation_reason": answer}
    slots = await form.validate_escalation_urgency("No, it can wait", d, tracker(None, "No, it can wait"), domain)
    assert slots == {"escalation_urgency": "normal", "escalation_reason": None}
    d = CollectingDispatcher()
    assert await form.validate_escalation_urgency("purple", d, tracker(None, "purple"), domain) == {
        "escalation_urgency": None
    }
    assert sent(d) == ["utter_escalation_urgency_unclear"]


async def test_submit_commits_then_gives_the_reference_once(
    state: dict[str, Any], tracker: TrackerFactory, domain: dict[str, Any]
) -> None:
    d = CollectingDispatcher()
    events = await ActionSubmitEscalation(**state).run(d, tracker(None, "yes", slots=FILLED), domain)
    # No service named: the receipt offers the services the outage affects.
    assert sent(d) == ["utter_escalation_confirmed", "utter_escalation_filed_nowhere", "utter_queue_wait_unknown"]
    reference = d.messages[0]["reference"]
    assert SlotSet("escalation_ref", reference) in events and rows(state) == 1
    assert d.messages[2]["position"] == "1" and d.messages[0]["staff_hours"]

    d = CollectingDispatcher()
    await ActionHumanContact(**state).run(d, tracker("request_human", "a person"), domain)
    assert sent(d) == ["utter_escalation_existing", "utter_queue_wait_unknown"]
    assert d.messages[0]["reference"] == reference


def form_events(need: str, intent: str, services: list[str]) -> list[dict[str, Any]]:
    """A conversation that asked about broadband, then stated a need about `services`."""

    def user(text: str, name: str, keys: list[str]) -> dict[str, Any]:
        entities = [{"entity": "service", "value": k} for k in keys]
        return {"event": "user", "text": text, "parse_data": {"intent": {"name": name}, "entities": entities}}

    return [user("is broadband ok", "connectivity", ["broadband"]), user(need, intent, services)]


async def test_an_escalation_is_filed_under_the_need_and_linked_to_its_incident(
    state: dict[str, Any], tracker: TrackerFactory, domain: dict[str, Any]
) -> None:
    """The service slot said broadband; the stated need is about roaming, which the demo
    incident has down: filed under roaming, linked to that incident, and the customer is told."""
    need = "I need roaming on before my flight tonight"
    slots = FILLED | {"escalation_need": need, "service": "broadband"}
    d = CollectingDispatcher()
    events = form_events(need, "roaming", ["roaming"])
    await ActionSubmitEscalation(**state).run(d, tracker(None, "yes", slots=slots, events=events), domain)
    assert sent(d)[:2] == ["utter_escalation_confirmed", "utter_escalation_filed_under"]
    assert d.messages[1]["services"].startswith("Roaming")
    with state["store"].sessions() as s:
        row = s.scalars(select(Escalation)).one()
        assert row.service_key == "roaming" and [link.service_key for link in row.links] == ["roaming"]


async def test_new_escalations_from_one_address_stop_at_the_limit_but_safety_never_does(
    state: dict[str, Any], tracker: TrackerFactory, domain: dict[str, Any]
) -> None:
    limit = state["settings"].escalation_client_limit
    made = []
    for n in range(limit + 2):
        t = tracker(None, "no", slots=FILLED | {"escalation_contact": f"02155500{n:02d}"})
        t.sender_id = f"web-{n}"
        t.latest_message["metadata"] = {"client": "a1" * 8}
        d = CollectingDispatcher()
        await ActionSubmitEscalation(**state).run(d, t, domain)
        made.append(sent(d)[0])
    assert made.count("utter_escalation_confirmed") == limit and made[-1] == "utter_escalation_limited"
    t = tracker(None, "help", slots=FILLED | {"escalation_contact": "0215559999", "escalation_urgency": "safety"})
    t.sender_id = "web-safety"
    t.latest_message["metadata"] = {"client": "a1" * 8}
    d = CollectingDispatcher()
    await ActionSubmitEscalation(**state).run(d, t, domain)
    assert sent(d)[0] == "utter_escalation_confirmed_safety" and rows(state) == limit + 1


async def test_cancelled_form_stores_nothing(
    state: dict[str, Any], tracker: TrackerFactory, domain: dict[str, Any]
) -> None:
    d = CollectingDispatcher()
    await ActionSubmitEscalation(**state).run(d, tracker(None, "cancel", slots={"escalation_contact": None}), domain)
    assert sent(d) == ["utter_escalation_cancelled"] and rows(state) == 0


async def test_a_failed_write_never_shows_a_reference(
    state: dict[str, Any], tracker: TrackerFactory, domain: dict[str, Any], tmp_path: Any
) -> None:
    broken = {**state, "store": Backend(make_engine(f"sqlite:///{tmp_path / 'none' / 'x.db'}"))}
    d = CollectingDispatcher()
    events = await ActionSubmitEscalation(**broken).run(d, tracker(None, "yes", slots=FILLED), domain)
    assert sent(d) == ["utter_escalation_failed"] and "0800" in d.messages[0]["contact"]
    assert not any(e.get("name") == "escalation_ref" for e in events)


async def test_time_critical_question_gets_the_answer_then_an_offer(
    state: dict[str, Any], tracker: TrackerFactory, domain: dict[str, Any]
) -> None:
    from actions.service_status import ActionServiceStatus

    d = CollectingDispatcher()
    text = "job interview by phone in an hour and I can't divert my calls"
    events = await ActionServiceStatus(**state).run(d, tracker("call_diversion", text), domain)
    assert sent(d)[0] == "utter_service_major_outage" and sent(d)[-1] == "utter_offer_escalation"
    assert SlotSet("offered_escalation", True) in events


async def test_urgency_heard_in_the_customers_own_words_gets_an_offer_and_keeps_them(
    state: dict[str, Any], tracker: TrackerFactory, domain: dict[str, Any]
) -> None:
    from actions.service_status import ActionServiceStatus

    d = CollectingDispatcher()
    text = "I'll lose my job if I can't divert my calls today"  # none of the knowledge file's words
    events = await ActionServiceStatus(**state).run(d, tracker("call_diversion", text, urgency="time_critical"), domain)
    assert sent(d)[-1] == "utter_offer_escalation" and "utter_emergency_help" not in sent(d)
    assert SlotSet("offered_escalation", True) in events and SlotSet("escalation_reason", text) in events
    # The form still asks whether it can wait: a wrong "urgent" costs others their place.
    assert not any(e.get("name") == "escalation_urgency" for e in events)


async def test_an_offer_and_its_reason_lapse_when_the_conversation_moves_on(
    state: dict[str, Any], tracker: TrackerFactory, domain: dict[str, Any]
) -> None:
    from actions.service_status import ActionServiceStatus

    d = CollectingDispatcher()
    offered = {"offered_escalation": True, "escalation_reason": "job interview at noon"}
    events = await ActionServiceStatus(**state).run(d, tracker("top_up", "how do I top up", slots=offered), domain)
    assert SlotSet("offered_escalation", False) in events and SlotSet("escalation_reason", None) in events
    assert "utter_offer_escalation" not in sent(d)


async def test_a_button_yes_keeps_the_customers_earlier_words_as_the_reason(
    state: dict[str, Any], tracker: TrackerFactory, domain: dict[str, Any]
) -> None:
    form, d = ValidateEscalationForm(**state), CollectingDispatcher()
    earlier = {"escalation_reason": "I'll lose my job if I can't divert my calls today"}
    yes = "Yes, it's time-critical"
    slots = await form.validate_escalation_urgency(yes, d, tracker(None, yes, slots=earlier), domain)
    assert slots == {"escalation_urgency": "time_critical", "escalation_reason": earlier["escalation_reason"]}
    bare = await form.validate_escalation_urgency(yes, d, tracker(None, yes), domain)
    assert bare == {"escalation_urgency": "time_critical", "escalation_reason": None}  # never the button's text


async def test_an_unclear_answer_that_sounds_urgent_is_taken_as_time_critical(
    state: dict[str, Any], tracker: TrackerFactory, domain: dict[str, Any]
) -> None:
    form, d = ValidateEscalationForm(**state), CollectingDispatcher()
    text = "the buyer walks if they can't reach me by four"
    slots = await form.validate_escalation_urgency(text, d, tracker(None, text, urgency="time_critical"), domain)
    assert slots == {"escalation_urgency": "time_critical", "escalation_reason": text} and sent(d) == []


async def test_safety_heard_without_the_words_gets_emergency_help_first(
    state: dict[str, Any], tracker: TrackerFactory, domain: dict[str, Any]
) -> None:
    d = CollectingDispatcher()
    text = "someone is banging on my door and I need to be able to call out"
    events = await ActionHumanContact(**state).run(d, tracker("request_human", text, urgency="safety"), domain)
    assert sent(d) == ["utter_emergency_help", "utter_escalation_intro"]
    assert SlotSet("escalation_urgency", "safety") in events


async def test_safety_in_a_service_question_gets_emergency_advice_first(
    state: dict[str, Any], tracker: TrackerFactory, domain: dict[str, Any]
) -> None:
    from actions.service_status import ActionServiceStatus

    d = CollectingDispatcher()
    text = "my landline is down and dad's medical alarm needs it"
    events = await ActionServiceStatus(**state).run(d, tracker("connectivity", text), domain)
    assert sent(d)[0] == "utter_emergency_help" and sent(d)[-1] == "utter_offer_escalation"
    assert SlotSet("escalation_urgency", "safety") in events


async def test_asking_how_long_gives_the_place_in_the_queue_never_the_eta(
    state: dict[str, Any], tracker: TrackerFactory, domain: dict[str, Any]
) -> None:
    d = CollectingDispatcher()
    await ActionQueueWait(**state).run(d, tracker("queue_wait", "how long will I wait"), domain)
    assert sent(d) == ["utter_queue_none"]
    await ActionSubmitEscalation(**state).run(CollectingDispatcher(), tracker(None, "no", slots=FILLED), domain)
    d = CollectingDispatcher()
    await ActionQueueWait(**state).run(d, tracker("queue_wait", "how long will I wait"), domain)
    assert sent(d) == ["utter_queue_wait_unknown"] and d.messages[0]["position"] == "1"


async def test_a_closing_notice_is_shown_once_and_sets_the_topic(
    state: dict[str, Any], tracker: TrackerFactory, domain: dict[str, Any], demo: int
) -> None:
    """Pushed by the notifier as "c<id>": shown once even if the push is retried, and the
    conversation's topic becomes the service, so "it's still broken" is about it."""
    slots = FILLED | {"escalation_need": "My top-up failed"}
    events = form_events("My top-up failed", "top_up", ["top_up"])
    await ActionSubmitEscalation(**state).run(
        CollectingDispatcher(), tracker(None, "no", slots=slots, events=events), domain
    )
    store = state["store"]
    close_linked(store.sessions, demo, "Top-ups work again.", actor="ops", now=NOW)
    entity = [{"entity": "notification_id", "value": "c1"}]
    d = CollectingDispatcher()
    events = await ActionDeliverNotification(**state).run(d, tracker("EXTERNAL_incident_update", "", entity), domain)
    assert sent(d) == ["utter_escalation_closed_notice"] and d.messages[0]["closing_message"] == "Top-ups work again."
    assert SlotSet("service", "top_up") in events
    d = CollectingDispatcher()
    again = tracker("EXTERNAL_incident_update", "", entity, slots={"delivered_notifications": ["c1"]})
    assert await ActionDeliverNotification(**state).run(d, again, domain) == [] and d.messages == []


async def test_the_receipt_offers_the_other_affected_services_and_a_tap_refiles_it(
    state: dict[str, Any], tracker: TrackerFactory, domain: dict[str, Any]
) -> None:
    """Filed under top-up from the stated need; the customer taps Email under the receipt: the
    request moves to email, linked to the incident that has email down (or none if restored)."""
    slots = FILLED | {"escalation_need": "My top-up failed"}
    d = CollectingDispatcher()
    events = form_events("My top-up failed", "top_up", ["top_up"])
    await ActionSubmitEscalation(**state).run(d, tracker(None, "no", slots=slots, events=events), domain)
    filed = next(m for m in d.messages if m["response"] == "utter_escalation_filed_under")
    titles = [b["title"] for b in filed["buttons"]]
    assert "Prepaid top-up" not in titles and 1 <= len(titles) <= 4
    payload = next(b["payload"] for b in filed["buttons"] if b["title"] == "Roaming")
    assert payload == '/escalation_service{"service": "roaming"}'

    d = CollectingDispatcher()
    entity = [{"entity": "service", "value": "roaming"}]
    events = await ActionRefileEscalation(**state).run(d, tracker("escalation_service", payload, entity), domain)
    assert sent(d) == ["utter_escalation_refiled"] and d.messages[0]["services"] == "Roaming"
    assert SlotSet("service", "roaming") in events
    with state["store"].sessions() as s:
        row = s.scalars(select(Escalation)).one()
        assert row.service_key == "roaming" and [link.service_key for link in row.links] == ["roaming"]


async def test_refiling_without_a_request_or_a_service_says_so(
    state: dict[str, Any], tracker: TrackerFactory, domain: dict[str, Any]
) -> None:
    d = CollectingDispatcher()
    await ActionRefileEscalation(**state).run(d, tracker("escalation_service", "my request is about email"), domain)
    assert sent(d) == ["utter_queue_none"]
    await ActionSubmitEscalation(**state).run(CollectingDispatcher(), tracker(None, "no", slots=FILLED), domain)
    d = CollectingDispatcher()
    await ActionRefileEscalation(**state).run(d, tracker("escalation_service", "wrong service"), domain)
    assert sent(d) == ["utter_escalation_refile_which"]
