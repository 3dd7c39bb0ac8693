"""Service, overview, ETA, security, compensation, greeting and contact actions as thin adapters."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.compensation import ActionCompensation
from actions.contact import ActionNotifyMe
from actions.escalation import ActionHumanContact
from actions.greeting import ActionGreet
from actions.overview import ActionCheckAgain, ActionEta, ActionOutageOverview
from actions.security import ActionSecurity
from actions.service_status import ActionServiceStatus
from bot.conversation.backend import Backend
from bot.conversation.reply import PATTERNED_RESPONSES
from bot.core.errors import IncidentSourceError
from bot.core.settings import PROJECT_ROOT
from bot.db.engine import make_engine
from tests.actions.conftest import TrackerFactory, said, sent


async def test_top_up_sends_outage_update_eta_and_workarounds(
    state: dict[str, Any], tracker: TrackerFactory, domain: dict[str, Any]
) -> None:
    d = CollectingDispatcher()
    events = await ActionServiceStatus(**state).run(d, tracker("top_up", "I can't top up my phone"), domain)
    assert sent(d)[:3] == ["utter_service_major_outage", "utter_latest_update", "utter_eta_none"]
    assert said(d).startswith("Prepaid top-up: not working right now")
    assert events[0] == SlotSet("service", "top_up")
    # The update quoted in full is remembered; the other steps wait for "more".
    assert [e["name"] for e in events[1:]] == ["quoted_updates", "more_replies"]


async def test_call_diversion_uses_the_number_given(
    state: dict[str, Any], tracker: TrackerFactory, domain: dict[str, Any]
) -> None:
    d = CollectingDispatcher()
    t = tracker(
        "call_diversion", "divert to 021 555 0199", entities=[{"entity": "phone_number", "value": "021 555 0199"}]
    )
    await ActionServiceStatus(**state).run(d, t, domain)
    assert "**21*0215550199#" in said(d)


async def test_the_customers_own_number_never_fills_a_diversion_code(
    state: dict[str, Any], tracker: TrackerFactory, domain: dict[str, Any]
) -> None:
    d = CollectingDispatcher()
    t = tracker("call_diversion", "my number is 09 123 4567, how do I divert my calls")
    events = await ActionServiceStatus(**state).run(d, t, domain)
    steps = said(d)
    assert "091234567" not in steps + str(events)
    assert "**21*<number>#" in steps and "<number> is the number calls should go to" in steps
    assert "On the phone whose calls you want to divert" in steps  # which phone to dial on
    assert "diversion_number" not in [e.get("name") for e in events]


async def test_a_destination_named_once_fills_the_codes_of_later_answers(
    state: dict[str, Any], tracker: TrackerFactory, domain: dict[str, Any]
) -> None:
    d = CollectingDispatcher()
    t = tracker("call_diversion", "divert my landline 09 123 4567 to my mobile 021 555 0199")
    events = await ActionServiceStatus(**state).run(d, t, domain)
    assert SlotSet("diversion_number", "0215550199") in events
    d = CollectingDispatcher()
    later = tracker("call_diversion", "and when busy?", slots={"diversion_number": "0215550199"})
    events = await ActionServiceStatus(**state).run(d, later, domain)
    first, rest = said(d), str(next(e["value"] for e in events if e["name"] == "more_replies"))
    assert "**21*0215550199#" in first and "**67*0215550199#" in rest  # the other codes wait for "more"
    assert "091234567" not in first + rest


async def test_connectivity_with_broadband_entity_answers_broadband(
    state: dict[str, Any], tracker: TrackerFactory, domain: dict[str, Any]
) -> None:
    d = CollectingDispatcher()
    t = tracker("connectivity", "is my broadband affected", entities=[{"entity": "service", "value": "broadband"}])
    events = await ActionServiceStatus(**state).run(d, t, domain)
    assert sent(d) == ["utter_service_normal"]
    assert said(d).startswith("Broadband: not affected")
    assert events == [SlotSet("service", "broadband")]


async def test_overview_lists_everything_without_a_service(
    state: dict[str, Any], tracker: TrackerFactory, domain: dict[str, Any]
) -> None:
    d = CollectingDispatcher()
    await ActionOutageOverview(**state).run(d, tracker("check_outage", "what's down"), domain)
    assert sent(d)[0] == "utter_outage_summary"


async def test_overview_with_a_named_service_answers_for_it(
    state: dict[str, Any], tracker: TrackerFactory, domain: dict[str, Any]
) -> None:
    d = CollectingDispatcher()
    t = tracker("check_outage", "is email down", entities=[{"entity": "service", "value": "email"}])
    await ActionOutageOverview(**state).run(d, t, domain)
    assert sent(d) == ["utter_service_restored"]


async def test_eta_follows_the_service_in_context(
    state: dict[str, Any], tracker: TrackerFactory, domain: dict[str, Any]
) -> None:
    d = CollectingDispatcher()
    await ActionEta(**state).run(d, tracker("ask_eta", "when will it be fixed", slots={"service": "roaming"}), domain)
    assert sent(d) == ["utter_eta_service_none"]
    assert said(d).startswith("There's no ETA for Roaming yet")


async def test_eta_without_context_covers_the_incident(
    state: dict[str, Any], tracker: TrackerFactory, domain: dict[str, Any]
) -> None:
    d = CollectingDispatcher()
    await ActionEta(**state).run(d, tracker("ask_eta", "eta?"), domain)
    assert sent(d) == ["utter_eta_incident_none"]


async def test_security_and_compensation(
    state: dict[str, Any], tracker: TrackerFactory, domain: dict[str, Any]
) -> None:
    d = CollectingDispatcher()
    await ActionSecurity(**state).run(d, tracker("security_concern", "was this a hack"), domain)
    await ActionCompensation(**state).run(d, tracker("compensation", "refund"), domain)
    assert sent(d) == ["utter_security_cause", "utter_compensation_policy", "utter_compensation_offer"]


async def test_greet_contact_and_notify(state: dict[str, Any], tracker: TrackerFactory, domain: dict[str, Any]) -> None:
    d = CollectingDispatcher()
    await ActionGreet(**state).run(d, tracker("greet", "kia ora"), domain)
    await ActionHumanContact(**state).run(d, tracker("request_human", "a person please"), domain)
    await ActionNotifyMe(**state).run(d, tracker("notify_me", "tell me when it's fixed"), domain)
    assert sent(d) == ["utter_greet_incident", "utter_escalation_intro", "utter_notify_subscribed_next"]
    d = CollectingDispatcher()
    await ActionNotifyMe(**state).run(d, tracker("notify_me", "tell me when it's fixed"), domain)
    assert sent(d) == ["utter_notify_already"]


async def test_unreachable_store_gets_a_fallback_not_an_error(
    state: dict[str, Any], tracker: TrackerFactory, domain: dict[str, Any], tmp_path: Any
) -> None:
    broken = make_engine(f"sqlite:///{tmp_path / 'missing' / 'x.db'}")  # no schema: every query fails
    state = {**state, "store": Backend(broken)}
    for action in (ActionServiceStatus, ActionOutageOverview, ActionEta, ActionCheckAgain, ActionSecurity):
        d = CollectingDispatcher()
        events = await action(**state).run(d, tracker("top_up", "top up"), domain)
        assert sent(d) == ["utter_state_unavailable"], action
        assert events == []
    d = CollectingDispatcher()  # nothing was stored, and the customer is told so
    assert await ActionNotifyMe(**state).run(d, tracker("notify_me", "tell me when it's fixed"), domain) == []
    assert sent(d) == ["utter_notify_failed"]
    d = CollectingDispatcher()
    await ActionGreet(**state).run(d, tracker("greet", "hi"), domain)
    assert sent(d) == ["utter_greet"]


async def test_after_a_failed_read_answers_say_how_old_the_state_is(
    state: dict[str, Any], tracker: TrackerFactory, domain: dict[str, Any]
) -> None:
    store = state["store"]
    await store.overview()  # one good read

    def fail() -> None:
        raise IncidentSourceError("database is locked")

    store.overview_sync = fail
    d = CollectingDispatcher()
    await ActionServiceStatus(**state).run(d, tracker("top_up", "top up"), domain)
    assert sent(d)[0] == "utter_service_major_outage"  # the last known state, not a refusal
    assert "utter_state_stale" in sent(d)
    assert "so this is what we knew 2:30 pm today" in said(d)  # the last good read's time


async def test_garbage_entities_do_not_break_actions(
    state: dict[str, Any], tracker: TrackerFactory, domain: dict[str, Any]
) -> None:
    d = CollectingDispatcher()
    junk = [
        {"entity": "service", "value": None},
        {"entity": "service", "value": 7},
        {"entity": "phone_number", "value": ["x"]},
    ]
    await ActionServiceStatus(**state).run(d, tracker("connectivity", "\x00" * 10, entities=junk), domain)
    assert sent(d) == ["utter_connectivity_ok"]


# Every package whose code names a response to send.
RESPONDING = ("actions", "bot", "rasa_plugins")
# Literals that look like responses and are not: the key under which Rasa's bot events name the
# response they came from (read by bot/web/chatfeed.py).
NOT_RESPONSES = frozenset({"utter_action"})


def responses_named(roots: Iterable[Path]) -> set[str]:
    """Every response the code under `roots` can send: each literal "utter_..." in any module,
    at any depth, and those chosen by pattern. A literal that only opens a pattern (the
    "utter_eta" of "utter_eta_known") is not a response of its own."""
    source = "\n".join(p.read_text(encoding="utf-8") for root in roots for p in sorted(root.rglob("*.py")))
    literal = set(re.findall(r'"(utter_[a-z_]+)"', source)) - NOT_RESPONSES
    prefixes = {u for u in literal if any(p.startswith(u + "_") for p in PATTERNED_RESPONSES)}
    return (literal - prefixes) | PATTERNED_RESPONSES


def test_every_response_the_code_sends_exists_in_the_domain(domain: dict[str, Any]) -> None:
    used = responses_named(PROJECT_ROOT / root for root in RESPONDING)
    assert len(used) > 60  # every module was read, nested packages included
    assert {"utter_escalation_confirmed", "utter_queue_wait", "utter_staff_reply", "utter_internal_error"} <= used
    assert used - set(domain["responses"]) == set()


def test_the_domain_check_fails_on_a_response_the_domain_lacks(tmp_path: Path, domain: dict[str, Any]) -> None:
    """A response sent from a nested module, and missing from the domain, is caught."""
    nested = tmp_path / "bot" / "deep" / "er"
    nested.mkdir(parents=True)
    (nested / "speaks.py").write_text('REPLY = "utter_nobody_wrote_this"\n', encoding="utf-8")
    assert "utter_nobody_wrote_this" in responses_named([tmp_path / "bot"]) - set(domain["responses"])


async def test_and_now_answers_for_the_service_under_discussion(
    state: dict[str, Any], tracker: TrackerFactory, domain: dict[str, Any]
) -> None:
    d = CollectingDispatcher()
    t = tracker("check_again", "and now?", slots={"service": "roaming"})
    events = await ActionCheckAgain(**state).run(d, t, domain)
    assert sent(d) == ["utter_service_major_outage", "utter_service_incident", "utter_latest_update", "utter_eta_none"]
    assert said(d).startswith("Roaming: not working right now") and "Confirmed to work" not in said(d)
    assert 'It\'s part of "Back-end systems outage after failed maintenance".' in said(d)  # room for it here
    assert events[0] == SlotSet("service", "roaming")
    d = CollectingDispatcher()
    await ActionCheckAgain(**state).run(d, tracker("check_again", "and now?"), domain)
    assert sent(d)[0] == "utter_outage_summary"  # nothing under discussion: the whole outage
