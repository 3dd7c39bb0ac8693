"""The customers' web chat in a real headless Chromium on a phone-sized screen, against the real
web app, Rasa server and action server: banner, answers, quick replies, history across a
reload, staff replies arriving signed and styled apart, pushed notices without their trigger,
the banner keeping itself current, and no way into another customer's conversation."""

from __future__ import annotations

import asyncio
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from bot.core.devsecrets import chat_secret
from bot.core.settings import PROJECT_ROOT
from bot.rasa_api import RasaApi
from bot.web.chat import COOKIE, verify
from tests.e2e.conftest import Assistant

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = PROJECT_ROOT / "results" / "browser-chat"
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def web(demo_assistant: Assistant, web_app: str) -> str:
    if not CHROMIUM.is_file():
        pytest.skip("Debian's chromium is not installed (make browser installs it when run as root)")
    return web_app


def test_customer_chats_on_a_phone_and_keeps_the_conversation(demo_assistant: Assistant, web: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    SCREENSHOTS.mkdir(parents=True)
    settings = demo_assistant.servers.settings
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        customer = browser.new_context(viewport=PHONE)
        page = customer.new_page()
        page.goto(web + "/")
        expect(page.get_by_role("status", name="Current outage")).to_contain_text("Back-end systems outage")
        page.screenshot(path=str(SCREENSHOTS / "1-open.png"))

        page.get_by_label("Your message").fill("I can't top up my phone")
        page.keyboard.press("Enter")  # keyboard only
        expect(page.locator("#log")).to_contain_text("auto-renew", timeout=30_000)
        page.screenshot(path=str(SCREENSHOTS / "2-answer.png"), full_page=True)

        # A time-critical question gets the answer and an offer of a person as quick replies.
        page.get_by_label("Your message").fill("job interview call today and I can't set up call forwarding")
        page.get_by_role("button", name="Send").click()
        quick = page.get_by_role("button", name="No, thanks")
        expect(quick).to_be_visible(timeout=30_000)
        quick.click()
        expect(page.locator("#log li.you").last).to_have_text("No, thanks", timeout=30_000)
        expect(page.locator("#log li.assistant").last).to_contain_text("No worries")
        page.screenshot(path=str(SCREENSHOTS / "3-quick-reply.png"), full_page=True)

        page.reload()
        expect(page.locator("#log")).to_contain_text("I can't top up my phone", timeout=15_000)
        expect(page.locator("#log")).to_contain_text("auto-renew")
        expect(page.locator("#log li.you").last).to_have_text("No, thanks")  # the title, not "/deny"
        page.screenshot(path=str(SCREENSHOTS / "4-after-reload.png"), full_page=True)

        cookie = next(c for c in customer.cookies() if c["name"] == COOKIE)
        assert cookie["httpOnly"]
        conversation = verify(cookie["value"], chat_secret(settings))
        assert conversation is not None

        # A staff reply from the console's push path appears in the open window.
        # (in a thread of its own: Playwright's sync API keeps an event loop in this one)
        staff = RasaApi(settings.rasa_url, demo_assistant.token)
        with ThreadPoolExecutor(1) as pool:
            pool.submit(
                asyncio.run,
                staff.reply(conversation, "Kia ora, Aroha here. Updates: https://status.example.co.nz/x", "Aroha"),
            ).result(timeout=30)
        expect(page.locator("#log")).to_contain_text("Aroha (support): Kia ora", timeout=15_000)
        expect(page.locator("#log li.staff")).to_have_count(1)  # a person, shown apart from the assistant
        link = page.locator("#log a[href='https://status.example.co.nz/x']")
        expect(link).to_have_count(1)  # addresses become links, text stays text
        page.screenshot(path=str(SCREENSHOTS / "5-staff-reply.png"), full_page=True)

        # The customer's second tab: what it sends is pushed to the first one, and neither
        # tab shows any message twice (each shows its own turn from /chat/send's answer).
        second = customer.new_page()
        second.goto(web + "/")
        expect(second.locator("#log")).to_contain_text("Aroha (support)", timeout=15_000)
        second.get_by_label("Your message").fill("what about roaming?")
        second.keyboard.press("Enter")
        # (paused for staff since the reply above: the assistant says a person has it)
        expect(second.locator("#log li.assistant").last).to_contain_text("looking after", timeout=30_000)
        expect(page.locator("#log li.you").last).to_have_text("what about roaming?", timeout=15_000)
        page.wait_for_timeout(2500)  # a few of the feed's ticks: anything duplicated would be here by now
        for tab in (page, second):
            expect(tab.locator("#log li", has_text="Aroha (support)")).to_have_count(1)
            expect(tab.locator("#log li.you", has_text="what about roaming?")).to_have_count(1)
            expect(tab.locator("#log li.you", has_text="I can't top up my phone")).to_have_count(1)
        second.close()

        # Another customer cannot see or continue this conversation, even holding its raw id.
        other = browser.new_context(viewport=PHONE)
        other.add_cookies([{"name": COOKIE, "value": conversation, "url": web}])
        stranger = other.new_page()
        stranger.goto(web + "/")
        stranger.wait_for_timeout(1500)  # the history read and the stream's first ticks
        expect(stranger.locator("#log li")).to_have_count(0)
        stranger.get_by_label("Your message").fill("is my broadband affected?")
        stranger.keyboard.press("Enter")
        expect(stranger.locator("#log")).to_contain_text("Broadband", timeout=30_000)
        stranger.screenshot(path=str(SCREENSHOTS / "6-other-customer.png"), full_page=True)
        theirs = next(c for c in other.cookies() if c["name"] == COOKIE and c["value"] != conversation)
        assert verify(theirs["value"], chat_secret(settings)) != conversation
        browser.close()

    events = demo_assistant.tracker(conversation)["events"]
    texts = [e.get("text") or "" for e in events if e.get("event") == "user"]
    assert "is my broadband affected?" not in texts  # the stranger's message went elsewhere
    assert len(list(SCREENSHOTS.iterdir())) == 6


@pytest.mark.usefixtures("leaves_no_trace")
def test_a_pushed_notice_shows_no_trigger_and_the_banner_follows_a_new_update(
    demo_assistant: Assistant, web: str
) -> None:
    """After "tell me when it's fixed" and a new update: the notice arrives without an
    "EXTERNAL" bubble, in the live view and after a reload, and the banner shows the update's
    time within 30 s, without a reload, on the chat's own stream."""
    from playwright.sync_api import expect, sync_playwright

    from bot.conversation.notify import Notifier
    from bot.core.clock import utcnow
    from bot.db.engine import make_session_factory
    from bot.db.models import Incident
    from bot.incidents.writes import post_update

    settings = demo_assistant.servers.settings
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        context = browser.new_context(viewport=PHONE)
        embedded = context.new_page()  # the banner a status page embeds: no stream, it asks every 20 s
        embedded.goto(web + "/banner")
        page = context.new_page()
        asked: list[str] = []
        page.on("request", lambda request: asked.append(request.url))
        page.goto(web + "/")
        page.get_by_label("Your message").fill("tell me when top up is fixed")
        page.keyboard.press("Enter")
        expect(page.locator("#log li.assistant").last).to_contain_text("message you", timeout=30_000)

        posted = utcnow()
        with make_session_factory(demo_assistant.engine).begin() as session:
            incident = session.query(Incident.id).one()[0]
            message = "Top-ups: the fix is being tested now."
            post_update(session, incident, message=message, now=posted, service_keys=["top_up"], actor="test")
        notifier = Notifier(settings, demo_assistant.engine, RasaApi(settings.rasa_url, demo_assistant.token))
        with ThreadPoolExecutor(1) as pool:
            assert pool.submit(asyncio.run, notifier.run_once()).result(timeout=60) >= 1

        expect(page.locator("#log")).to_contain_text("the fix is being tested", timeout=15_000)
        expect(page.locator("#log li", has_text="EXTERNAL")).to_have_count(0)
        expect(page.locator("#banner time")).to_have_attribute("datetime", posted.isoformat(), timeout=30_000)
        assert not [url for url in asked if "/chat/banner" in url]  # it came on the chat's stream
        embedded_time = embedded.locator("#banner time")
        expect(embedded_time).to_have_attribute("datetime", posted.isoformat(), timeout=30_000)
        page.screenshot(path=str(SCREENSHOTS / "7-notice-and-banner.png"), full_page=True)
        page.reload()
        expect(page.locator("#log")).to_contain_text("the fix is being tested", timeout=15_000)
        expect(page.locator("#log li", has_text="EXTERNAL")).to_have_count(0)
        browser.close()
