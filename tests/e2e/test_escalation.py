"""Escalation end to end: a real conversation through Rasa ends in an escalation that staff
work in the console in a real headless Chromium; and a reference number is never shown
without its row, even when the action server dies at the moment the customer confirms."""

from __future__ import annotations

import re
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from bot.core.clock import utcnow
from bot.core.settings import PROJECT_ROOT
from bot.db.engine import make_session_factory
from bot.db.models import Escalation, EscalationStatus, StaffRole
from bot.people.staff import create_user
from tests.e2e.conftest import Assistant, phone

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = PROJECT_ROOT / "results" / "browser"
PASSWORD = "correct horse battery"
XSS = "<script>alert('xss')</script> my top up failed"


def sender() -> str:
    return f"esc-{uuid.uuid4().hex[:10]}"


def escalate(assistant: Assistant, me: str, number: str = "021 555 0123") -> str:
    """A customer asks for a person and answers the form; returns the last reply."""
    assistant.say(me, XSS)
    assert "best phone number" in assistant.say(me, "I need to talk to a real person")
    assert "What do you need" in assistant.say(me, number)
    assert "time-critical" in assistant.say(me, "please call me back about setting up call diversion")
    return assistant.say(me, "Yes, it's time-critical: a house settlement at 3pm needs my phone")


def rows(assistant: Assistant, conversation: str) -> list[Escalation]:
    with make_session_factory(assistant.engine)() as session:
        query = select(Escalation).where(Escalation.conversation_id == conversation)
        return list(session.scalars(query.options(selectinload(Escalation.notes))))


@pytest.fixture
def console(demo_assistant: Assistant) -> Iterator[str]:
    servers = demo_assistant.servers
    name = f"agent{uuid.uuid4().hex[:6]}"
    with make_session_factory(demo_assistant.engine).begin() as session:
        create_user(session, name, PASSWORD, StaffRole.AGENT, utcnow(), actor="test", display_name="Tama")
    servers.env["NOTIFY_PUSH_CHANNELS"] = "rest"  # so that staff may reply into REST conversations here
    servers.start_web()
    try:
        yield name
    finally:
        servers.stop("web")
        servers.env.pop("NOTIFY_PUSH_CHANNELS", None)


def test_customer_escalates_and_an_agent_works_it_in_a_real_browser(demo_assistant: Assistant, console: str) -> None:
    if not CHROMIUM.is_file():
        pytest.skip("Debian's chromium is not installed (make browser installs it when run as root)")
    from playwright.sync_api import sync_playwright

    me, number = sender(), phone()
    confirmed = escalate(demo_assistant, me, number)
    reference = re.search(r"ESC-\d+", confirmed)
    assert reference, confirmed
    (row,) = rows(demo_assistant, me)
    assert row.reference == reference.group(0) and row.urgency.value == "time_critical"
    unclear = "🫠🫠🫠"  # no known word, so it falls back and is listed; an emoji newer than Python 3.10's tables
    demo_assistant.say(sender(), unclear)

    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    SCREENSHOTS.mkdir(parents=True)
    base = demo_assistant.servers.web_url
    dialogs: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        page = browser.new_page()
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))

        def shot(name: str) -> None:
            page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)

        page.goto(f"{base}/console")
        assert page.url.endswith("/console/login")
        shot("1-login")
        page.fill("input[name=username]", console)
        page.fill("input[name=password]", PASSWORD)
        page.click("button:has-text('Log in')")
        page.wait_for_url(f"{base}/console")
        shot("2-queue")
        assert page.locator(f"text={reference.group(0)}").count() == 1

        page.click(f"text={reference.group(0)}")
        page.wait_for_selector("h2:has-text('Transcript')")
        shot("3-escalation")
        body = page.inner_text("main")
        assert "live from Rasa" in body
        assert XSS in body  # shown as text, not run
        assert "I need to talk to a real person" in body and "intent request_human" in body
        assert number.replace(" ", "") in body  # the contact, for logged-in staff

        page.fill("form[action$='/note'] textarea", "Rang back, diverting the shop line now.")
        page.click("button:has-text('Add note')")
        page.wait_for_selector("text=Note added.")
        shot("4-note")

        page.fill("form[action$='/reply'] textarea", "Kia ora, Tama from support here. Your calls are diverted.")
        page.click("button:has-text('Send and pause')")
        page.wait_for_selector("text=Reply sent")
        shot("5-reply")

        page.select_option("select[name=status]", "resolved")
        page.click("button:has-text('Set status')")
        page.wait_for_selector("text=Status set to resolved.")
        shot("6-resolved")
        page.goto(f"{base}/console/overview")
        shot("7-overview")
        assert page.locator("svg").count() == 1

        page.click("header >> text=Review")
        page.wait_for_selector("h1:has-text('unsure of')")
        row_of = page.locator("tr", has_text=unclear)
        assert row_of.count() == 1, page.inner_text("main")[:2000]
        row_of.locator("select[name=intent]").select_option("out_of_scope")
        row_of.locator("button:has-text('Save')").click()
        page.wait_for_selector("text=Labelled out_of_scope.")
        shot("8-review")
        assert page.locator("tr", has_text=unclear).count() == 0  # labelled, so no longer listed
        browser.close()
    assert dialogs == []  # no script ran

    tracker = demo_assistant.tracker(me)
    texts = [e.get("text") for e in tracker["events"] if e.get("event") == "bot"]
    assert "Tama (support): Kia ora, Tama from support here. Your calls are diverted." in texts  # signed
    assert tracker.get("paused") is True
    # While paused, the customer is told a person has the conversation.
    assert "support team is looking after this conversation" in demo_assistant.say(me, "hello?")
    (row,) = rows(demo_assistant, me)
    assert row.status is EscalationStatus.RESOLVED and row.paused
    assert [n.kind for n in row.notes] == ["note", "reply", "status"]
    assert sorted(p.name for p in SCREENSHOTS.iterdir()) == [
        "1-login.png",
        "2-queue.png",
        "3-escalation.png",
        "4-note.png",
        "5-reply.png",
        "6-resolved.png",
        "7-overview.png",
        "8-review.png",
    ]


@pytest.mark.parametrize("delay", [0.0, 0.05, 0.2, 0.6])
def test_a_reference_is_never_shown_without_its_row(demo_assistant: Assistant, delay: float) -> None:
    """The action server is killed `delay` s after the customer's last answer is sent. Either the
    customer got a reference and the row exists, or they were told it failed and there is none."""
    me = sender()
    demo_assistant.say(me, "I need to talk to a real person")
    demo_assistant.say(me, phone())
    demo_assistant.say(me, "please call me back today about my business line")
    proc = demo_assistant.servers.procs["actions"]
    replies: list[str] = []

    def confirm() -> None:
        replies.append(demo_assistant.say(me, "No, it can wait"))

    sending = threading.Thread(target=confirm)
    sending.start()
    time.sleep(delay)
    proc.kill()
    sending.join(timeout=60)
    demo_assistant.servers.procs.pop("actions")
    try:
        (reply,) = replies
        stored = rows(demo_assistant, me)
        shown = re.search(r"ESC-\d+", reply)
        print(f"delay {delay}s: {'reference shown' if shown else 'told it failed'}; rows: {len(stored)}")
        if shown:
            assert [r.reference for r in stored] == [shown.group(0)]
        else:  # told it failed (a row may still exist: asking again then shows it)
            assert "was not saved" in reply or "couldn't save" in reply, reply
    finally:
        demo_assistant.servers.start_actions()
    # Whatever happened, asking again now gives one coherent answer.
    again = demo_assistant.say(me, "I need to talk to a real person")
    assert ("already have a request" in again) == bool(rows(demo_assistant, me))


def test_bad_contact_details_are_asked_again(demo_assistant: Assistant) -> None:
    me = sender()
    demo_assistant.say(me, "can I speak to someone")
    assert "doesn't look like a phone number" in demo_assistant.say(me, "<b>call me</b>")
    assert "What do you need" in demo_assistant.say(me, "mere@example.co.nz")


def utterances(assistant: Assistant, me: str) -> list[str]:
    """The responses the assistant chose in this conversation, in order (a web bubble's parts each)."""
    events = assistant.tracker(me).get("events") or []
    said = [e.get("metadata") or {} for e in events if e.get("event") == "bot"]
    return [str(name) for m in said for name in (m.get("responses") or [m.get("utter_action")])]


def test_urgency_in_the_customers_own_words_is_offered_a_person(demo_assistant: Assistant) -> None:
    """None of the knowledge file's words is in it: the NLU hears the urgency."""
    me = sender()
    demo_assistant.say(me, "I'll lose my job if I can't divert my calls today")
    said = utterances(demo_assistant, me)
    assert "utter_service_major_outage" in said and said[-1] == "utter_offer_escalation"
    demo_assistant.say(me, "yes please")
    assert (
        demo_assistant.tracker(me)["slots"]["escalation_reason"] == "I'll lose my job if I can't divert my calls today"
    )


def test_safety_in_a_message_outside_any_topic_still_reaches_a_person(demo_assistant: Assistant) -> None:
    me = sender()
    demo_assistant.say(me, "i'm home alone with a newborn who's having trouble breathing and i can't call out")
    said = utterances(demo_assistant, me)
    assert said[:2] == ["utter_emergency_help", "utter_escalation_intro"]
    assert demo_assistant.tracker(me)["slots"]["escalation_urgency"] == "safety"
