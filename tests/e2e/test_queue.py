"""The staff queue on an outage day, end to end: the real Rasa and action servers, the real web
app, and the console in a real headless Chromium. A safety case heads the queue however many
wait; the open queue shows a new one without a reload; a customer who asks how long they will
wait is told their place, never the incident's ETA; one address cannot bury the queue."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import delete, select

from bot.core.clock import utcnow
from bot.db.engine import make_session_factory
from bot.db.models import Escalation, StaffRole
from bot.people.staff import create_user
from tests.e2e.conftest import Assistant, phone
from tests.escalation_rows import insert_waiting

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
PASSWORD = "correct horse battery"
SAFETY_NEED = "I need someone, my dad's medical alarm runs on this landline"


def sender() -> str:
    return f"queue-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def agent(demo_assistant: Assistant) -> str:
    name = f"agent{uuid.uuid4().hex[:6]}"
    with make_session_factory(demo_assistant.engine).begin() as session:
        create_user(session, name, PASSWORD, StaffRole.AGENT, utcnow(), actor="test")
    return name


@pytest.fixture
def crowd(demo_assistant: Assistant) -> Iterator[int]:
    """300 customers already waiting (written straight to the store: the form itself is tested
    elsewhere, and `make bench` runs all 300 through it); removed afterwards."""
    with make_session_factory(demo_assistant.engine)() as session:
        before = session.scalar(select(Escalation.id).order_by(Escalation.id.desc()).limit(1)) or 0
    insert_waiting(demo_assistant.engine, 300, utcnow(), prefix="crowd")
    yield 300
    with make_session_factory(demo_assistant.engine).begin() as session:
        session.execute(delete(Escalation).where(Escalation.id > before, Escalation.conversation_id.like("crowd-%")))


def escalate_with_safety(assistant: Assistant, me: str) -> str:
    """The issue's safety case through the REST channel; returns the confirmation."""
    first = assistant.say(me, SAFETY_NEED)
    assert "111" in first and "best phone number" in first, first
    assistant.say(me, phone())
    return assistant.say(me, "the alarm company can't reach us if the line fails")


def console_client(base: str, username: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=30)
    form = client.get("/console/login")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert token
    done = client.post("/console/login", data={"username": username, "password": PASSWORD, "csrf": token.group(1)})
    assert done.status_code == 303, done.text
    return client


def test_a_safety_case_heads_the_default_queue_behind_300_waiting(
    demo_assistant: Assistant, web_app: str, agent: str, crowd: int
) -> None:
    me = sender()
    confirmed = escalate_with_safety(demo_assistant, me)
    reference = re.search(r"ESC-\d+", confirmed)
    assert reference and "highest priority" in confirmed and "front of the queue" in confirmed, confirmed
    client = console_client(web_app, agent)
    page = client.get("/console")
    client.close()
    assert page.status_code == 200
    rows = re.findall(r'<a href="/console/escalations/\d+">(ESC-\d+)</a>', page.text)
    assert reference.group(0) in rows[:5], rows[:5]  # other tests' safety cases may share the top
    waiting = re.search(r"<strong id=\"waiting\">(\d+)</strong> waiting in all", page.text)
    assert waiting and int(waiting.group(1)) >= crowd + 1
    assert "Next page" in page.text


def test_asking_how_long_gives_a_place_and_an_honest_wait_never_the_eta(demo_assistant: Assistant) -> None:
    me = sender()
    demo_assistant.say(me, "I need to talk to a real person")
    demo_assistant.say(me, phone())
    demo_assistant.say(me, "please call me back about my bill")
    receipt = demo_assistant.say(me, "No, it can wait")
    assert "ESC-" in receipt and "in the queue" in receipt, receipt
    for question in ("how long will I have to wait?", "where am I in the queue"):
        answer = demo_assistant.say(me, question)
        assert re.search(r"You're number \d+ in the queue", answer), answer
        assert "wait of about" in answer or "can't give you a time yet" in answer, answer
        assert "expect" not in answer.lower() and "ETA" not in answer, answer  # not the incident's estimate


def test_the_open_queue_shows_a_new_safety_case_without_a_reload(
    demo_assistant: Assistant, web_app: str, agent: str
) -> None:
    if not CHROMIUM.is_file():
        pytest.skip("Debian's chromium is not installed (make browser installs it when run as root)")
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        page = browser.new_page()
        navigations: list[str] = []
        page.goto(f"{web_app}/console")
        page.fill("input[name=username]", agent)
        page.fill("input[name=password]", PASSWORD)
        page.click("button:has-text('Log in')")
        page.wait_for_url(f"{web_app}/console")
        page.wait_for_timeout(3500)  # the first poll has taken the page's starting point
        page.on("framenavigated", lambda frame: navigations.append(frame.url))
        confirmed = escalate_with_safety(demo_assistant, sender())
        reference = re.search(r"ESC-\d+", confirmed)
        assert reference, confirmed
        expect(page.locator("#announce")).to_contain_text(f"New safety case: {reference.group(0)}", timeout=15_000)
        expect(page.locator("#live")).to_contain_text(reference.group(0), timeout=15_000)
        assert navigations == []  # no reload: the table was swapped in place
        browser.close()


def test_one_address_opens_at_most_its_limit_of_escalations(demo_assistant: Assistant, web_app: str) -> None:
    """Every fresh web-chat cookie from one address is a new conversation; past the per-address
    limit each is told so and nothing is stored."""
    limit = demo_assistant.servers.settings.escalation_client_limit
    with make_session_factory(demo_assistant.engine)() as session:
        before = session.scalar(select(Escalation.id).order_by(Escalation.id.desc()).limit(1)) or 0
    outcomes = []
    for _ in range(limit + 3):
        with httpx.Client(base_url=web_app, timeout=60) as client:  # a new cookie jar: a new conversation
            assert client.get("/").status_code == 200
            last = ""
            for text in ("I need to talk to a real person", phone(), "call me back about my bill", "No"):
                response = client.post("/chat/send", json={"message": text})
                assert response.status_code == 200, response.text
                last = " ".join(r["text"] for r in response.json()["replies"])
            outcomes.append("stored" if "ESC-" in last else "limited" if "too many requests" in last else last)
    with make_session_factory(demo_assistant.engine)() as session:
        stored = session.scalars(select(Escalation.id).where(Escalation.id > before)).all()
    # Earlier tests may have asked from this address too: at most the limit, then refusals.
    first_refused = outcomes.index("limited")
    assert set(outcomes[:first_refused]) <= {"stored"} and set(outcomes[first_refused:]) == {"limited"}, outcomes
    assert len(stored) == outcomes.count("stored") <= limit


def test_the_open_queue_marks_a_customers_new_reply_without_a_reload(
    demo_assistant: Assistant, web_app: str, agent: str
) -> None:
    """The live token counts customer messages in the rows on show, not only changes to rows."""
    if not CHROMIUM.is_file():
        pytest.skip("Debian's chromium is not installed (make browser installs it when run as root)")
    from playwright.sync_api import expect, sync_playwright

    me = sender()
    reference = re.search(r"ESC-\d+", escalate_with_safety(demo_assistant, me))
    assert reference
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        page = browser.new_page()
        page.goto(f"{web_app}/console")
        page.fill("input[name=username]", agent)
        page.fill("input[name=password]", PASSWORD)
        page.click("button:has-text('Log in')")
        page.wait_for_url(f"{web_app}/console")
        row = page.locator("#live tr", has_text=reference.group(0))
        expect(row).not_to_contain_text("new reply")
        page.wait_for_timeout(3500)  # the first poll has taken the page's starting point
        navigations: list[str] = []
        page.on("framenavigated", lambda frame: navigations.append(frame.url))
        demo_assistant.messages(me, "the alarm company says the line is still failing")  # paused: no reply
        expect(row).to_contain_text("new reply", timeout=15_000)
        assert navigations == []
        browser.close()
