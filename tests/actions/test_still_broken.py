"""still_broken: a service back after an incident gets troubleshooting and a counted report; one
that was never down gets troubleshooting and a person, and is no report that a fix failed."""

from __future__ import annotations

from typing import Any

from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from actions.still_broken import ActionStillBroken
from bot.db.models import RestoreReport
from tests.actions.conftest import TrackerFactory, said, sent


def reports(session: Session) -> int:
    return int(session.scalar(select(func.count(RestoreReport.id))) or 0)


def slots(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}


async def test_a_service_never_down_is_not_called_working_again_nor_counted(
    state: dict[str, Any], tracker: TrackerFactory, domain: dict[str, Any], session: Session
) -> None:
    d = CollectingDispatcher()
    t = tracker("still_broken", "my mobile is still not working", entities=[{"entity": "service", "value": "mobile"}])
    events = await ActionStillBroken(**state).run(d, t, domain)
    assert sent(d) == ["utter_still_broken_not_down", "utter_offer_escalation_restored"]
    assert "Restart your phone and check that flight mode is off." in said(d)
    assert "working again" not in said(d)
    assert "still failing after restore" not in slots(events).values()
    assert reports(session) == 0


async def test_a_service_back_after_an_incident_gets_troubleshooting_and_a_report(
    state: dict[str, Any], tracker: TrackerFactory, domain: dict[str, Any], session: Session
) -> None:
    d = CollectingDispatcher()
    t = tracker("still_broken", "email still broken for me", entities=[{"entity": "service", "value": "email"}])
    events = await ActionStillBroken(**state).run(d, t, domain)
    assert sent(d) == ["utter_still_broken_after_restore", "utter_offer_escalation_restored"]
    assert slots(events)["escalation_reason"] == "still failing after restore"
    assert reports(session) == 1


async def test_tried_that_still_the_same_follows_the_topic_without_repeating_the_answer(
    state: dict[str, Any], tracker: TrackerFactory, domain: dict[str, Any], session: Session
) -> None:
    """After the top-up answer: it's the outage, not them; the next step, not the one they tried."""
    d = CollectingDispatcher()
    t = tracker("still_broken", "tried that, still the same", slots={"service": "top_up"})
    events = await ActionStillBroken(**state).run(d, t, domain)
    text = said(d)
    assert text.startswith("It's not just you: Prepaid top-up is still affected by the outage"), text
    assert "Confirmed to work now: Voucher cards bought in a shop" in text and "auto-renew" not in text
    assert "There's no ETA for the fix yet" in text
    assert reports(session) == 0 and "escalation_reason" not in slots(events)
