"""Multi-turn conversations through the real Rasa server, the real action server and SQLite."""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx
import pytest

from bot.core.clock import utcnow
from bot.db.engine import make_session_factory
from bot.db.models import Incident
from bot.incidents.writes import post_update, resolve_incident
from bot.rasa_api import RasaAuth
from tests.e2e.conftest import Assistant

pytestmark = pytest.mark.e2e


def sender() -> str:
    return f"e2e-{uuid.uuid4().hex[:10]}"


def incident_id(assistant: Assistant) -> int:
    with make_session_factory(assistant.engine)() as session:
        return session.query(Incident.id).one()[0]


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("I can't top up my phone", ["Prepaid top-up: not working", "Latest update", "no ETA", "auto-renew"]),
        ("flying to Sydney tonight, how do I turn on roaming", ["Roaming: not working", "roaming was already on"]),
        ("how do I divert calls to my mobile", ["Call diversion: not working", "**21*"]),
        ("is my broadband affected?", ["Broadband: not affected"]),
        ("was this a hack?", ["not a cyber attack"]),
        ("when will it be fixed?", ["no ETA yet", "next update is due by"]),
        ("is email working?", ["Xtra Mail (email): working again", "Xtra Mail has been restored"]),
    ],
)
def test_demo_outage_questions_get_specific_sourced_answers(
    demo_assistant: Assistant, message: str, expected: list[str]
) -> None:
    reply = demo_assistant.say(sender(), message)
    for fragment in expected:
        assert fragment in reply, reply


def test_eta_follows_the_service_asked_about_before(demo_assistant: Assistant) -> None:
    me = sender()
    assert "Prepaid top-up: not working" in demo_assistant.say(me, "my top up keeps failing")
    assert "There's no ETA for Prepaid top-up yet" in demo_assistant.say(me, "when will it be fixed?")


def test_answers_follow_the_store_mid_conversation(demo_assistant: Assistant) -> None:
    me = sender()
    assert "Roaming: not working" in demo_assistant.say(me, "how do I turn on roaming, off to Fiji tomorrow")

    sessions = make_session_factory(demo_assistant.engine)
    with sessions.begin() as session:
        post_update(
            session,
            incident_id(demo_assistant),
            message="Roaming and top-ups should be back by this evening.",
            now=utcnow(),
            eta=utcnow() + timedelta(hours=5),
            actor="test",
        )
    reply = demo_assistant.say(me, "when will it be fixed?")
    assert "The team expects Roaming back by" in reply, reply

    with sessions.begin() as session:
        resolve_incident(
            session, incident_id(demo_assistant), message="All systems are back to normal.", now=utcnow(), actor="test"
        )
    reply = demo_assistant.say(me, "can I turn on roaming now?")
    assert "Roaming: working normally again" in reply and "All systems are back to normal." in reply, reply
    reply = demo_assistant.say(me, "what's down right now?")
    assert "There's no outage right now" in reply, reply


def test_greeting_during_the_outage_opens_with_a_notice(demo_assistant: Assistant) -> None:
    reply = demo_assistant.say(sender(), "kia ora")
    assert reply.startswith("Kia ora! Heads up:") and "Prepaid top-up" in reply


def test_compensation_quotes_policy_then_passes_on(demo_assistant: Assistant) -> None:
    me = sender()
    reply = demo_assistant.say(me, "will I get a credit on my bill for this outage?")
    assert "assessed case by case" in reply and "pass your request on" in reply
    assert "best phone number or e-mail address" in demo_assistant.say(me, "yes please")  # the escalation form


def test_unclear_messages_get_topic_buttons_then_a_person(demo_assistant: Assistant) -> None:
    me = sender()
    first = demo_assistant.say(me, "blorp zzzt")
    assert "not sure I understood" in first
    second = demo_assistant.say(me, "qwfp zxcv")
    assert "Let me pass you to a person" in second and "best phone number or e-mail address" in second


@pytest.mark.parametrize(
    "message",
    [
        "",
        "   ",
        "x" * 5000,
        "I can't top up " * 300,
        "😡😡😡",
        "¿Dónde puedo recargar mi teléfono?",
        "所有服务都中断了吗",
        "hi\x00\x07 there",
        "<script>alert('x')</script>",
        "'; DROP TABLE events; --",
    ],
)
def test_odd_but_valid_text_always_gets_a_reply(demo_assistant: Assistant, message: str) -> None:
    reply = demo_assistant.say(sender(), message)
    assert reply.strip(), f"no reply to {message[:30]!r}"


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{not json", 400),
        (b"\x00\xff\xfe\x01", 400),
        (b"[1, 2, 3]", 400),
        (b'{"sender": 5, "message": "hi"}', 400),
        (b'{"sender": "a", "message": ["hi"]}', 400),
        (b'{"sender": "", "message": "hi"}', 400),
        (b'{"sender": "a", "message": "' + b"x" * 20_000 + b'"}', 413),
        (b"{" + b" " * 100_000 + b"}", 413),
    ],
)
def test_malformed_requests_get_a_clear_4xx(assistant: Assistant, body: bytes, status: int) -> None:
    response = httpx.post(
        f"{assistant.rasa_url}/webhooks/rest/webhook",
        content=body,
        headers={"Content-Type": "application/json", "Accept": "application/json"},
        timeout=30,
    )
    assert response.status_code == status
    assert response.json()["message"]


def test_http_api_needs_the_token(assistant: Assistant) -> None:
    url = f"{assistant.rasa_url}/conversations/someone/tracker"
    assert httpx.get(url, timeout=30).status_code == 401
    assert httpx.get(url, params={"token": "wrong"}, timeout=30).status_code == 401
    assert httpx.get(url, params={"token": assistant.token}, timeout=30).status_code == 200


def test_a_long_conversation_keeps_its_context_and_every_message(demo_assistant: Assistant) -> None:
    """Past the turns a message is handled with (rasa_plugins.tracker_store compacts older
    ones into a summary), the service in context and a staff pause still hold, and the store
    keeps every real event: each message once, in order, and no summary event."""
    me = sender()
    said = []
    for i in range(30):  # compacted at 17 messages, and again at 25
        text = "I can't top up my phone" if i == 0 else ("thanks", "is there an outage at the moment?")[i % 2]
        said.append(text)
        assert demo_assistant.say(me, text)
    said.append("when will it be fixed?")
    assert "There's no ETA for Prepaid top-up yet" in demo_assistant.say(me, said[-1])  # the slot carried over
    auth = RasaAuth(demo_assistant.token)
    paused = httpx.post(
        f"{demo_assistant.rasa_url}/conversations/{me}/tracker/events", json={"event": "pause"}, auth=auth, timeout=30
    )
    assert paused.status_code == 200, paused.text
    for i in range(6):
        said.append(f"hello? {i}")
        assert "looking after this conversation" in demo_assistant.say(me, said[-1])  # still paused
    events = demo_assistant.tracker(me)["events"]
    assert [e["text"] for e in events if e.get("event") == "user"] == said
    assert sum(e.get("event") == "session_started" for e in events) == 1
    assert sum(e.get("event") == "pause" for e in events) == 1


@pytest.mark.usefixtures("leaves_no_trace")
def test_asking_to_be_told_while_a_person_has_the_conversation_is_recorded_and_confirmed(
    demo_assistant: Assistant,
) -> None:
    """Paused for staff, "tell me when top-up is fixed" is still answered and subscribed;
    anything else still waits for the person."""
    from sqlalchemy import select

    from bot.db.models import Subscription

    me = sender()
    assert demo_assistant.say(me, "I can't top up my phone")
    auth = RasaAuth(demo_assistant.token)
    paused = httpx.post(
        f"{demo_assistant.rasa_url}/conversations/{me}/tracker/events", json={"event": "pause"}, auth=auth, timeout=30
    )
    assert paused.status_code == 200, paused.text
    assert "I'll message you here" in demo_assistant.say(me, "please tell me when top up is fixed")
    with make_session_factory(demo_assistant.engine)() as session:
        keys = session.scalars(select(Subscription.service_key).where(Subscription.conversation_id == me)).all()
    assert keys == ["top_up"]
    assert "looking after this conversation" in demo_assistant.say(me, "is roaming working?")  # still paused
