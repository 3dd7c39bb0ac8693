"""notify_me: durable subscriptions, an outbox with de-duplication, pull and push delivery."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path

import httpx
import jwt
import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.conversation.notify import (
    EXTERNAL_INTENT,
    SUBSCRIPTIONS_PER_CLIENT,
    Notifier,
    enqueue_due,
    push_due,
    subscribe,
    take_pending,
)
from bot.core.errors import LimitError, ValidationError
from bot.core.settings import load_settings
from bot.db.engine import make_session_factory
from bot.db.models import Notification, Subscription
from bot.incidents.writes import post_update, resolve_incident
from bot.knowledge.file import Knowledge
from bot.rasa_api import RasaApi
from tests.conftest import NOW

PUSH = frozenset({"telegram"})


def count(session: Session) -> int:
    return int(session.scalar(select(func.count(Notification.id))) or 0)


def test_subscribing_twice_is_one_subscription(session: Session, demo: int) -> None:
    assert subscribe(session, "c1", "rest", "top_up", NOW) is True
    assert subscribe(session, "c1", "rest", "top_up", NOW) is False
    assert subscribe(session, "c1", "rest", None, NOW) is True  # "any incident" is another wish


def test_one_address_gets_at_most_ten_new_subscriptions_an_hour(session: Session, demo: int) -> None:
    flooder, neighbour = "a" * 16, "b" * 16
    made = [subscribe(session, f"c{i}", "webchat", "top_up", NOW, flooder) for i in range(SUBSCRIPTIONS_PER_CLIENT)]
    assert all(made)
    with pytest.raises(LimitError):
        subscribe(session, "one-more", "webchat", "top_up", NOW, flooder)
    assert subscribe(session, "c0", "webchat", "top_up", NOW, flooder) is False  # already on the list: no error
    assert subscribe(session, "neighbour", "webchat", "top_up", NOW, neighbour) is True
    assert subscribe(session, "an-hour-later", "webchat", "top_up", NOW + timedelta(hours=1, seconds=1), flooder)


@pytest.mark.parametrize(("conversation", "service"), [("", "top_up"), ("x" * 256, "top_up"), ("c1", "teleport")])
def test_bad_subscriptions_are_refused(session: Session, demo: int, conversation: str, service: str) -> None:
    with pytest.raises(ValidationError):
        subscribe(session, conversation, "rest", service, NOW)


def test_only_news_after_subscribing_about_that_service_is_queued_once(session: Session, demo: int) -> None:
    subscribe(session, "c1", "rest", "top_up", NOW)
    assert enqueue_due(session, NOW) == 0  # the demo's history is not news
    post_update(session, demo, message="Top-ups: fix being tested.", now=NOW, service_keys=["top_up"], actor="test")
    assert enqueue_due(session, NOW) == 1
    assert enqueue_due(session, NOW) == 0  # running again queues nothing new
    (notice,) = take_pending(session, "c1", NOW, PUSH)
    assert notice.service_name == "Prepaid top-up" and notice.message == "Top-ups: fix being tested."
    assert take_pending(session, "c1", NOW, PUSH) == []  # shown once


def test_resolution_is_the_last_notice(session: Session, demo: int) -> None:
    subscribe(session, "c1", "rest", "roaming", NOW)
    resolve_incident(session, demo, message="All systems are back.", now=NOW + timedelta(minutes=5), actor="test")
    assert enqueue_due(session, NOW) == 1
    notices = take_pending(session, "c1", NOW, PUSH)
    assert [n.status.value for n in notices] == ["resolved"]
    assert subscribe(session, "c1", "rest", "roaming", NOW) is True  # the old one has ended


def test_push_channels_are_not_shown_at_the_next_message(session: Session, demo: int) -> None:
    subscribe(session, "tg", "telegram", None, NOW)
    subscribe(session, "web", "rest", None, NOW)
    post_update(session, demo, message="News.", now=NOW, actor="test")
    enqueue_due(session, NOW)
    assert [c for _, c in push_due(session, PUSH, NOW)] == ["tg"]
    assert take_pending(session, "tg", NOW, PUSH) == []
    assert len(take_pending(session, "web", NOW, PUSH)) == 1


def test_the_outbox_refuses_a_second_row_for_the_same_update(engine: Engine, demo: int) -> None:
    """Two notifiers racing: whichever commits second hits the unique (subscription, update) pair."""
    sessions = make_session_factory(engine)
    with sessions.begin() as s:
        subscribe(s, "c1", "rest", None, NOW)
        post_update(s, demo, message="News.", now=NOW, actor="test")
    with sessions.begin() as s:
        enqueue_due(s, NOW)
    with sessions.begin() as s:
        assert enqueue_due(s, NOW) == 0  # a restarted notifier finds it queued
        row = s.scalars(select(Notification)).one()
    with pytest.raises(IntegrityError), sessions.begin() as s:
        s.add(Notification(subscription_id=row.subscription_id, update_id=row.update_id, created_at=NOW))
    with sessions() as s:
        assert count(s) == 1


TOKEN = "rasa-test-token-" + "t" * 24


def test_notifier_pushes_through_rasa_and_retries_failures(engine: Engine, demo: int, tmp_path: Path) -> None:
    sessions = make_session_factory(engine)
    with sessions.begin() as s:
        subscribe(s, "tg:user+1", "telegram", "top_up", NOW)
        post_update(s, demo, message="News.", now=NOW, service_keys=["top_up"], actor="test")
    calls: list[httpx.Request] = []
    answers = iter([httpx.Response(500), httpx.Response(200, json={})])

    def rasa(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return next(answers)

    settings = load_settings(
        {"VAR_DIR": str(tmp_path), "NOTIFY_PUSH_CHANNELS": "telegram", "RASA_URL": "http://rasa.test"},
        dotenv_path=Path("/nonexistent"),
    )
    notifier = Notifier(
        settings, engine, RasaApi("http://rasa.test", TOKEN, httpx.MockTransport(rasa)), clock=lambda: NOW
    )
    assert asyncio.run(notifier.run_once()) == 0  # Rasa failed: still pending, error kept
    with sessions() as s:
        row = s.scalars(select(Notification)).one()
        assert row.delivered_at is None and row.attempts == 1 and row.last_error == "Rasa answered HTTP 500"
        assert row.retry_at == NOW + timedelta(seconds=2)
    assert asyncio.run(notifier.run_once()) == 0  # backing off: not retried yet
    notifier.clock = lambda: NOW + timedelta(seconds=3)
    assert asyncio.run(notifier.run_once()) == 1
    assert asyncio.run(notifier.run_once()) == 0  # delivered: never pushed again
    assert len(calls) == 2
    # Rasa does not decode percent-escapes in the id, so it is sent as it is.
    assert calls[1].url.raw_path.decode().startswith("/conversations/tg:user+1/trigger_intent?")
    assert "token" not in calls[1].url.params  # a URL is logged; the credential goes in a header
    claims = jwt.decode(calls[1].headers["Authorization"].removeprefix("Bearer "), TOKEN, algorithms=["HS256"])
    assert claims["user"]["role"] == "admin"
    assert json.loads(calls[1].content) == {"name": EXTERNAL_INTENT, "entities": {"notification_id": str(row.id)}}


def test_notifier_pushes_closing_notices_and_holds_whatsapp_outside_its_window(
    engine: Engine, demo: int, tmp_path: Path
) -> None:
    """A telegram customer's notice goes through Rasa with key "c<id>"; a WhatsApp customer who
    last wrote 25 hours ago is not pushed to (WhatsApp would refuse free text): held for their
    next message. The tracker store tells when each last wrote."""
    from bot.db.models import ClosingNotice, Urgency
    from bot.people.closing import close_linked
    from bot.people.escalations import create_escalation
    from tests.tracker_table import TrackerTable

    tracker = TrackerTable(tmp_path / "tracker.db")
    old = (NOW - timedelta(hours=25)).timestamp()
    tracker.insert("whatsapp:+64215550002", "user", {"event": "user", "text": "top up broken"}, at=old)
    sessions = make_session_factory(engine)
    with sessions.begin() as s:
        for conversation, channel in (("tg-9", "telegram"), ("whatsapp:+64215550002", "twilio")):
            create_escalation(
                s,
                conversation_id=conversation,
                channel=channel,
                contact=conversation[-10:] if channel == "twilio" else "0215550009",
                need="Top-up failed",
                urgency=Urgency.NORMAL,
                trigger="request_human",
                now=NOW,
                service_keys=["top_up"],
            )
    close_linked(sessions, demo, "Top-ups work again.", actor="ops", now=NOW)
    calls: list[httpx.Request] = []

    def rasa(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(200, json={})

    settings = load_settings(
        {"VAR_DIR": str(tmp_path), "NOTIFY_PUSH_CHANNELS": "telegram,twilio", "RASA_URL": "http://rasa.test"},
        dotenv_path=Path("/nonexistent"),
    )
    notifier = Notifier(
        settings,
        engine,
        RasaApi("http://rasa.test", TOKEN, httpx.MockTransport(rasa)),
        clock=lambda: NOW,
        tracker_store=tracker.engine,
    )
    assert asyncio.run(notifier.run_once()) == 1
    assert asyncio.run(notifier.run_once()) == 0
    (call,) = calls
    assert call.url.raw_path.decode().startswith("/conversations/tg-9/trigger_intent")
    assert json.loads(call.content)["entities"]["notification_id"].startswith("c")
    with sessions() as s:
        held = s.scalars(select(ClosingNotice).where(ClosingNotice.channel == "twilio")).one()
        assert held.held and held.delivered_at is None and "24-hour" in (held.last_error or "")
    tracker.engine.dispose()


def burst(engine: Engine, attempts: int, client: str) -> int:
    """`attempts` subscriptions from one address at once, each in its own transaction and
    thread, as concurrent chat messages would be; how many were stored."""
    from concurrent.futures import ThreadPoolExecutor

    sessions = make_session_factory(engine)

    def one(i: int) -> bool:
        try:
            with sessions.begin() as s:
                return subscribe(s, f"burst-{i}", "webchat", "top_up", NOW, client)
        except LimitError:
            return False

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(one, range(attempts)))
    with sessions() as s:
        return int(
            s.scalar(select(func.count()).select_from(Subscription).where(Subscription.client_key == client)) or 0
        )


def test_a_burst_from_one_address_stores_at_most_the_limit_on_sqlite(engine: Engine, demo: int) -> None:
    assert burst(engine, 40, "c" * 16) == SUBSCRIPTIONS_PER_CLIENT


@pytest.mark.postgres
def test_a_burst_from_one_address_stores_at_most_the_limit_on_postgres(pg_engine: Engine, knowledge: Knowledge) -> None:
    from bot.incidents.seed import load_scenario, scenario_path
    from tests.conftest import TZ

    with make_session_factory(pg_engine).begin() as s:
        load_scenario(s, scenario_path("outage_day_two"), knowledge, now=NOW, tz=TZ, actor="test")
    assert burst(pg_engine, 40, "d" * 16) == SUBSCRIPTIONS_PER_CLIENT
