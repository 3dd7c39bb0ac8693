"""Facebook Messenger, Telegram and Twilio through the real Rasa server: real-format signed
webhooks get the assistant's answer, sent to each provider's API, which here is a fake on
loopback (`*_API_BASE`); unsigned or wrongly signed webhooks are refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bot.core.clock import utcnow
from bot.core.settings import load_settings
from bot.db.engine import make_session_factory
from bot.db.models import AuditEntry, ClosingNotice, Escalation, EscalationStatus, Incident, StaffRole
from bot.ops.servers import Servers, free_port
from bot.people import operators
from bot.people.escalations import assign
from bot.people.staff import create_user
from bot.rasa_api import RasaAuth
from tests.conftest import serve_in_thread
from tests.e2e.conftest import Assistant
from tests.e2e.faults import sqlite_locked
from tests.escalation_rows import escalate

pytestmark = pytest.mark.e2e

FB_SECRET = "fb-app-secret-" + "x" * 20
TG_TOKEN = "123456789:AAFakeTokenForTestsOnly_abcdefghijkl"
TG_SECRET = "tg-secret-" + "y" * 20
TW_SID, TW_TOKEN = "AC" + "1" * 32, "tw-auth-token-" + "z" * 18
ANSWER = "Prepaid top-up: down"  # the short channels' wording
RESTARTING = (
    "Part of my system is restarting, so I couldn't answer that just now. Please send it again in a minute. "
    "If you were asking for a person, that request was not saved yet."
)


@dataclass
class Provider:
    """Fake Graph, Bot and Twilio APIs that record what the assistant sends."""

    sent: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    async def handle(self, request: Request) -> JSONResponse:
        path = request.url.path
        body = await request.body()
        try:
            data: dict[str, Any] = json.loads(body) if body.startswith(b"{") else dict(await request.form())
        except ValueError:
            data = {}
        if path.endswith("/getMe"):
            return JSONResponse(
                {"ok": True, "result": {"id": 1, "is_bot": True, "first_name": "O", "username": "outage_bot"}}
            )
        if path.endswith("/setWebhook"):
            self.sent.append(("telegram-setWebhook", data))
            return JSONResponse({"ok": True, "result": True})
        if "/bot" in path:
            self.sent.append(("telegram", data))
            chat = {"id": int(data.get("chat_id", 0) or 0), "type": "private"}
            return JSONResponse(
                {"ok": True, "result": {"message_id": 1, "date": 0, "chat": chat, "text": data.get("text", "")}}
            )
        if path.endswith("/me/messages"):
            self.sent.append(("facebook", data))
            return JSONResponse({"recipient_id": "u", "message_id": "m"})
        if path.endswith("/Messages.json"):
            self.sent.append(("twilio", data))
            return JSONResponse(
                {"sid": "SM" + "0" * 32, "status": "queued", "body": data.get("Body", ""), "account_sid": TW_SID}, 201
            )
        return JSONResponse({}, 404)

    def texts(self, kind: str) -> str:
        return "\n".join(
            str(d.get("text") or d.get("Body") or d.get("message") or "") for k, d in self.sent if k == kind
        )


@pytest.fixture(scope="module")
def social(assistant: Assistant) -> Iterator[tuple[str, Provider]]:
    """A second Rasa server, on the same action server and stores, with the three channels on."""
    provider = Provider()
    app = Starlette(routes=[Route("/{path:path}", provider.handle, methods=["GET", "POST"])])
    with serve_in_thread(app) as fake:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = dict(assistant.servers.env) | {
            "RASA_PORT": str(port),
            "FACEBOOK_VERIFY": "verify-me",
            "FACEBOOK_SECRET": FB_SECRET,
            "FACEBOOK_PAGE_ACCESS_TOKEN": "page-token",
            "FACEBOOK_API_BASE": fake,
            "TELEGRAM_ACCESS_TOKEN": TG_TOKEN,
            "TELEGRAM_VERIFY": "outage_bot",
            "TELEGRAM_WEBHOOK_URL": f"{base}/webhooks/telegram/webhook",
            "TELEGRAM_SECRET_TOKEN": TG_SECRET,
            "TELEGRAM_API_BASE": fake,
            "TWILIO_ACCOUNT_SID": TW_SID,
            "TWILIO_AUTH_TOKEN": TW_TOKEN,
            "TWILIO_NUMBER": "+6421000000",
            "TWILIO_WEBHOOK_URL": f"{base}/webhooks/twilio/webhook",
            "TWILIO_API_BASE": fake,
        }
        servers = Servers(settings=load_settings(env), env=env, token=assistant.token, logs=assistant.servers.logs)
        servers.start_rasa()
        try:
            yield base, provider
        finally:
            servers.stop_all()


def wait_for_text(provider: Provider, kind: str, fragment: str, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if fragment in provider.texts(kind):
            return provider.texts(kind)
        time.sleep(0.3)
    raise AssertionError(f"{kind}: no reply containing {fragment!r}; got {provider.texts(kind)!r}")


def telegram_update(text: str) -> tuple[int, dict[str, Any]]:
    """A new private chat's id, and an update in Telegram's format with its first message."""
    chat = int(uuid.uuid4().int % 10**9)
    message = {
        "message_id": 1,
        "date": 1_764_000_000,
        "chat": {"id": chat, "type": "private"},
        "from": {"id": chat, "is_bot": False, "first_name": "Mere"},
        "text": text,
    }
    return chat, {"update_id": 1, "message": message}


def test_telegram_registers_its_secret_and_answers_signed_updates(social: tuple[str, Provider]) -> None:
    base, provider = social
    assert any(k == "telegram-setWebhook" and d.get("secret_token") == TG_SECRET for k, d in provider.sent)
    _chat, update = telegram_update("I can't top up my phone")
    url = f"{base}/webhooks/telegram/webhook"
    assert httpx.post(url, json=update, timeout=30).status_code == 403
    assert (
        httpx.post(url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "wrong"}, timeout=30).status_code
        == 403
    )
    ok = httpx.post(url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": TG_SECRET}, timeout=60)
    assert ok.status_code == 200
    wait_for_text(provider, "telegram", ANSWER)


def facebook_event(user: str, text: str) -> dict[str, Any]:
    """A page webhook in Graph's format carrying one message from `user`."""
    message = {
        "sender": {"id": user},
        "recipient": {"id": "PAGE"},
        "timestamp": 1,
        "message": {"mid": "m1", "text": text},
    }
    return {"object": "page", "entry": [{"id": "PAGE", "time": 1, "messaging": [message]}]}


def test_facebook_answers_signed_webhooks_and_refuses_others(social: tuple[str, Provider]) -> None:
    base, provider = social
    user = f"fb-{uuid.uuid4().hex[:8]}"
    event = facebook_event(user, "I can't top up my phone")
    body = json.dumps(event).encode()
    url = f"{base}/webhooks/facebook/webhook"
    good = "sha1=" + hmac.new(FB_SECRET.encode(), body, hashlib.sha1).hexdigest()
    headers = {"Content-Type": "application/json"}
    assert httpx.post(url, content=body, headers=headers, timeout=30).status_code == 403
    assert (
        httpx.post(url, content=body, headers=headers | {"X-Hub-Signature": "sha1=" + "0" * 40}, timeout=30).status_code
        == 403
    )
    assert httpx.post(url, content=body, headers=headers | {"X-Hub-Signature": good}, timeout=60).status_code == 200
    wait_for_text(provider, "facebook", ANSWER)


def twilio_signature(url: str, params: dict[str, str]) -> str:
    """Twilio's scheme: HMAC-SHA1 over the URL and the sorted parameters, base64."""
    payload = url + "".join(k + params[k] for k in sorted(params))
    return base64.b64encode(hmac.new(TW_TOKEN.encode(), payload.encode(), hashlib.sha1).digest()).decode()


def test_twilio_answers_signed_sms_and_refuses_others(social: tuple[str, Provider]) -> None:
    base, provider = social
    url = f"{base}/webhooks/twilio/webhook"
    params = {
        "From": f"+6421{uuid.uuid4().int % 10**7:07d}",
        "To": "+6421000000",
        "Body": "I can't top up my phone",
        "MessageSid": "SM1",
    }
    assert httpx.post(url, data=params, timeout=30).status_code == 403
    assert httpx.post(url, data=params, headers={"X-Twilio-Signature": "bm90IGl0"}, timeout=30).status_code == 403
    signed = httpx.post(url, data=params, headers={"X-Twilio-Signature": twilio_signature(url, params)}, timeout=60)
    assert signed.status_code in (200, 204)  # Rasa answers Twilio with an empty 204
    wait_for_text(provider, "twilio", ANSWER)


def send_sms(base: str, number: str, text: str) -> None:
    url = f"{base}/webhooks/twilio/webhook"
    params = {"From": number, "To": "+6421000000", "Body": text, "MessageSid": "SM" + uuid.uuid4().hex[:32]}
    signed = httpx.post(url, data=params, headers={"X-Twilio-Signature": twilio_signature(url, params)}, timeout=60)
    assert signed.status_code in (200, 204)


def sms_to(provider: Provider, number: str) -> list[str]:
    return [str(d.get("Body", "")) for k, d in provider.sent if k == "twilio" and d.get("To") == number]


def test_an_sms_answer_is_one_message_of_at_most_320_characters_and_more_sends_the_rest(
    social: tuple[str, Provider],
) -> None:
    """What Rasa's Twilio connector really posts to Twilio's API, per message."""
    base, provider = social
    number = f"+6421{uuid.uuid4().int % 10**7:07d}"
    send_sms(base, number, "I can't top up my phone")
    wait_for_text(provider, "twilio", "Reply MORE for details.")
    (answer,) = sms_to(provider, number)
    assert answer.startswith(ANSWER) and len(answer) <= 320, answer
    assert "Latest update" in answer and "next update by" in answer, answer
    send_sms(base, number, "MORE")
    wait_for_text(provider, "twilio", "Teams are still working to restore top-ups")
    rest = sms_to(provider, number)[1:]
    assert len(rest) >= 2 and all(len(body) <= 1600 for body in rest), rest  # Twilio's own limit per message


def test_whatsapp_through_twilio_gets_the_same_short_answer(social: tuple[str, Provider]) -> None:
    base, provider = social
    number = f"whatsapp:+6421{uuid.uuid4().int % 10**7:07d}"
    send_sms(base, number, "is roaming working?")
    wait_for_text(provider, "twilio", "Roaming: down")
    (answer,) = [b for b in sms_to(provider, number) if b.startswith("Roaming")]
    assert len(answer) <= 320 and answer.endswith("Reply MORE for details."), answer


def test_telegram_gets_a_short_answer_with_a_more_details_button(social: tuple[str, Provider]) -> None:
    base, provider = social
    chat, update = telegram_update("is roaming working?")
    url = f"{base}/webhooks/telegram/webhook"
    ok = httpx.post(url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": TG_SECRET}, timeout=60)
    assert ok.status_code == 200
    wait_for_text(provider, "telegram", "Want the details?")
    (sent,) = [d for k, d in provider.sent if k == "telegram" and int(d.get("chat_id", 0) or 0) == chat]
    assert str(sent["text"]).startswith("Roaming: down") and len(str(sent["text"])) <= 640, sent
    assert "More details" in str(sent.get("reply_markup")) and "/more" in str(sent.get("reply_markup")), sent


def test_messenger_gets_a_short_answer_with_a_more_details_button(social: tuple[str, Provider]) -> None:
    base, provider = social
    user = f"fb-{uuid.uuid4().hex[:8]}"
    event = facebook_event(user, "is roaming working?")
    body = json.dumps(event).encode()
    signature = "sha1=" + hmac.new(FB_SECRET.encode(), body, hashlib.sha1).hexdigest()
    headers = {"Content-Type": "application/json", "X-Hub-Signature": signature}
    assert httpx.post(f"{base}/webhooks/facebook/webhook", content=body, headers=headers, timeout=60).status_code == 200
    wait_for_text(provider, "facebook", "Want the details?")
    # Besides the answer, the connector posts sender actions (seen, typing) that carry no message.
    to_user = [d for k, d in provider.sent if k == "facebook" and (d.get("recipient") or {}).get("id") == user]
    (sent,) = [d for d in to_user if "message" in d]
    template = sent["message"]["attachment"]["payload"]  # Rasa's Messenger connector: a button template
    assert template["text"].startswith("Roaming: down") and template["text"].endswith("Want the details?")
    assert [(b["title"], b["payload"]) for b in template["buttons"]] == [("More details", "/more")]


# --- bounded fuzz: correctly signed but malformed webhooks ------------------------------------

ids = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.text(max_size=300),
    st.sampled_from(["\ud800", "a\x00b", "x" * 5000, "", "../../etc", "1/2"]),
    st.none(),
    st.lists(st.integers(), max_size=2),
)
loose = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=40),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=12,
)
facebook_bodies = st.one_of(
    loose,
    st.builds(
        lambda sender, text, extra: {
            "object": "page",
            "entry": [{"id": "1", "time": 1, "messaging": [{"sender": {"id": sender}, "message": text, **extra}]}],
        },
        ids,
        st.one_of(st.fixed_dictionaries({"text": st.text(max_size=200)}), loose),
        st.dictionaries(st.sampled_from(["postback", "recipient", "timestamp"]), loose, max_size=2),
    ),
)
telegram_bodies = st.one_of(
    loose,
    st.builds(
        lambda chat, sender, text: {
            "update_id": 1,
            "message": {
                "message_id": 1,
                "date": 1,
                "chat": {"id": chat, "type": "private"},
                "from": sender,
                "text": text,
            },
        },
        ids,
        loose,
        st.one_of(st.text(max_size=200), loose),
    ),
)
twilio_forms = st.fixed_dictionaries(
    {"From": ids.map(lambda v: "" if v is None else str(v)[:2000]), "Body": st.text(max_size=500)},
    optional={"MessageSid": st.text(max_size=40), "To": st.text(max_size=20)},
)
FUZZ = settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))


def rasa_status(base: str, token: str) -> int:
    return httpx.get(f"{base}/status", auth=RasaAuth(token), timeout=30).status_code


def test_signed_malformed_webhooks_never_get_a_server_error(social: tuple[str, Provider], assistant: Assistant) -> None:
    base, _ = social
    statuses: list[int] = []

    @FUZZ
    @given(event=facebook_bodies)
    def facebook(event: object) -> None:
        body = json.dumps(event).encode()
        signature = "sha1=" + hmac.new(FB_SECRET.encode(), body, hashlib.sha1).hexdigest()
        headers = {"Content-Type": "application/json", "X-Hub-Signature": signature}
        statuses.append(
            httpx.post(f"{base}/webhooks/facebook/webhook", content=body, headers=headers, timeout=60).status_code
        )

    @FUZZ
    @given(update=telegram_bodies)
    def telegram(update: object) -> None:
        headers = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": TG_SECRET}
        body = json.dumps(update).encode()
        statuses.append(
            httpx.post(f"{base}/webhooks/telegram/webhook", content=body, headers=headers, timeout=60).status_code
        )

    @FUZZ
    @given(params=twilio_forms)
    def twilio(params: dict[str, str]) -> None:
        url = f"{base}/webhooks/twilio/webhook"
        if any(0xD800 <= ord(c) <= 0xDFFF for v in params.values() for c in v):
            params = {k: v.encode("utf-8", "replace").decode() for k, v in params.items()}
        headers = {"X-Twilio-Signature": twilio_signature(url, params)}
        sent = httpx.post(url, data=params, headers=headers, timeout=60)
        if sent.status_code >= 500:
            print("FIVE", params)
        statuses.append(sent.status_code)

    for channel in (facebook, telegram, twilio):
        channel()
        assert rasa_status(base, assistant.token) == 200, channel.__name__
    assert len(statuses) >= 60
    assert all(status < 500 for status in statuses), sorted(set(statuses))


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_telegram_set_webhook_is_closed(social: tuple[str, Provider], method: str) -> None:
    """Rasa's /set_webhook re-registers without the secret token; anyone could switch Telegram off."""
    base, provider = social
    registrations = sum(1 for k, _ in provider.sent if k == "telegram-setWebhook")
    headers = {"X-Telegram-Bot-Api-Secret-Token": TG_SECRET}
    assert (
        httpx.request(method, f"{base}/webhooks/telegram/set_webhook", headers=headers, timeout=30).status_code == 403
    )
    assert sum(1 for k, _ in provider.sent if k == "telegram-setWebhook") == registrations


def test_a_telegram_turn_that_cannot_be_stored_is_answered_with_try_again(
    social: tuple[str, Provider], assistant: Assistant
) -> None:
    """Rasa's Telegram connector logs a failed turn and tells Telegram all went well; the
    customer is told instead to send it again, and nothing of the turn is kept."""
    base, provider = social
    tracker_db = Path(str(make_url(assistant.servers.settings.tracker_store_url).database))
    chat, update = telegram_update("I need to talk to a real person")
    headers = {"X-Telegram-Bot-Api-Secret-Token": TG_SECRET}
    with sqlite_locked(tracker_db):
        sent = httpx.post(f"{base}/webhooks/telegram/webhook", json=update, headers=headers, timeout=120)
        assert sent.status_code == 200
        replies = [d for k, d in provider.sent if k == "telegram" and str(d.get("chat_id")) == str(chat)]
    assert [r.get("text") for r in replies] == [RESTARTING], replies
    events = httpx.get(f"{base}/conversations/{chat}/tracker", auth=RasaAuth(assistant.token), timeout=30).json()
    assert not [e for e in events["events"] if e.get("event") == "user"]


def test_a_twilio_turn_that_cannot_be_stored_is_answered_with_try_again(
    social: tuple[str, Provider], assistant: Assistant
) -> None:
    base, provider = social
    tracker_db = Path(str(make_url(assistant.servers.settings.tracker_store_url).database))
    url = f"{base}/webhooks/twilio/webhook"
    number = f"+6421{uuid.uuid4().int % 10**7:07d}"
    params = {"From": number, "To": "+6421000000", "Body": "tell me when top up is fixed", "MessageSid": "SM2"}
    with sqlite_locked(tracker_db):
        sent = httpx.post(url, data=params, headers={"X-Twilio-Signature": twilio_signature(url, params)}, timeout=120)
        assert sent.status_code in (200, 204)
        replies = [d.get("Body") for k, d in provider.sent if k == "twilio" and d.get("To") == number]
    assert replies == [RESTARTING], replies
    events = httpx.get(f"{base}/conversations/{number}/tracker", auth=RasaAuth(assistant.token), timeout=30).json()
    assert not [e for e in events["events"] if e.get("event") == "user"]


# --- "it's back": tell and close, on each customer's own channel (issue 21) --------------------

NOTICE = "Good news about your request"


def _notices(provider: Provider, kind: str, to: str) -> list[str]:
    key = "chat_id" if kind == "telegram" else "To"
    return [
        str(d.get("text") or d.get("Body") or "")
        for k, d in list(provider.sent)
        if k == kind and str(d.get(key)) == to and NOTICE in str(d.get("text") or d.get("Body") or "")
    ]


def _pushed(sessions: Any) -> tuple[int, int]:
    """(delivered, all) closing notices on the push channels."""
    with sessions() as session:
        rows = session.scalars(select(ClosingNotice).where(ClosingNotice.channel.in_(("telegram", "twilio")))).all()
        return sum(1 for r in rows if r.delivered_at), len(rows)


def test_tell_and_close_reaches_each_waiting_customer_once_on_their_channel(
    social: tuple[str, Provider], assistant: Assistant, web_app: str
) -> None:
    """50 escalations linked to the incident over REST, Twilio and Telegram, one assigned to an
    agent. One API call closes the 49 others and queues 49 messages; the notifier is killed
    while it delivers, and one delivery's bookkeeping is lost on top; every customer still gets
    exactly one message on their own channel, and calling again sends nothing."""
    base, provider = social
    assistant.reload_demo()
    sessions = make_session_factory(assistant.engine)
    with sessions() as session:
        incident_id = session.scalars(select(Incident.id)).one()
    headers = {"X-Telegram-Bot-Api-Secret-Token": TG_SECRET}
    telegram: list[str] = []
    for _ in range(17):
        chat, update = telegram_update("my top up failed")
        assert (
            httpx.post(f"{base}/webhooks/telegram/webhook", json=update, headers=headers, timeout=60).status_code == 200
        )
        telegram.append(str(chat))
    twilio = [f"+6422{uuid.uuid4().int % 10**7:07d}" for _ in range(16)]
    for number in twilio:
        send_sms(base, number, "my top up failed")
    rest = [f"rest-close-{uuid.uuid4().hex[:8]}" for _ in range(17)]
    for conversation in rest:
        assert "Prepaid top-up: not working" in assistant.say(conversation, "my top up failed")
    customers = [(c, "telegram") for c in telegram] + [(c, "twilio") for c in twilio] + [(c, "rest") for c in rest]
    with sessions.begin() as session:
        for n, (conversation, channel) in enumerate(customers):
            escalate(session, conversation, f"0213{n:07d}", channel=channel, services=["top_up"], now=utcnow())
        agent = create_user(
            session, f"agent{uuid.uuid4().hex[:6]}", "correct horse battery", StaffRole.AGENT, utcnow(), actor="test"
        )
        assigned = session.scalars(select(Escalation).where(Escalation.conversation_id == telegram[0])).one()
        assign(session, assigned, agent, utcnow())
        token = operators.create_token(session, f"ops-{uuid.uuid4().hex[:6]}", utcnow(), actor="test")
    api = httpx.Client(base_url=web_app, headers={"Authorization": f"Bearer {token}"}, timeout=60)
    url = f"/api/v1/incidents/{incident_id}/escalations/close"
    done = api.post(url, json={"message": "Top-ups are working again."})
    assert done.status_code == 200 and done.json() == {"closed": 49, "queued": 49, "left_open": 1}, done.text

    env = dict(assistant.servers.env) | {"RASA_URL": base, "NOTIFY_INTERVAL_SECONDS": "0.3"}
    notifier = Servers(settings=load_settings(env), env=env, token=assistant.token, logs=assistant.servers.logs)
    try:
        notifier.start_notifier()
        deadline = time.monotonic() + 60
        while _pushed(sessions)[0] < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        notifier.procs["notifier"].kill()  # mid-delivery: no chance to tidy up
        notifier.procs["notifier"].wait(timeout=10)
        notifier.procs.pop("notifier")
        delivered, total = _pushed(sessions)
        assert total == 32 and 1 <= delivered < total, (delivered, total)  # killed part-way
        with sessions.begin() as session:  # and one pushed notice's bookkeeping lost, as if killed just after Rasa
            row = session.scalars(select(ClosingNotice).where(ClosingNotice.delivered_at.is_not(None))).first()
            assert row is not None
            row.delivered_at = None
        notifier.start_notifier()
        deadline = time.monotonic() + 90
        while _pushed(sessions)[0] < 32 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _pushed(sessions) == (32, 32)
        assert api.post(url, json={"message": "Top-ups are working again."}).json() == {
            "closed": 0,
            "queued": 0,
            "left_open": 1,
        }
        time.sleep(1.5)  # a few more notifier rounds: nothing new may go out
    finally:
        notifier.stop_all()
        api.close()

    for chat in telegram[1:]:
        assert len(_notices(provider, "telegram", chat)) == 1, [
            d for k, d in provider.sent if str(d.get("chat_id")) == chat
        ]
    assert _notices(provider, "telegram", telegram[0]) == []  # a person has it: left open, not told
    for number in twilio:
        (sms,) = _notices(provider, "twilio", number)
        assert "ESC-" in sms and "Top-ups are working again." in sms and "still broken" in sms
    for conversation in rest:
        first = assistant.say(conversation, "hello")
        assert first.count(NOTICE) == 1 and "Top-ups are working again." in first, first
        assert NOTICE not in assistant.say(conversation, "thanks")
    with sessions() as session:
        closed = session.scalars(
            select(Escalation).where(Escalation.conversation_id.in_([c for c, _ in customers]))
        ).all()
        assert sum(e.status is EscalationStatus.RESOLVED for e in closed) == 49
        assert session.get(Escalation, assigned.id).status is EscalationStatus.IN_PROGRESS  # type: ignore[union-attr]
        audits = session.scalar(
            select(func.count(AuditEntry.id)).where(
                AuditEntry.action == "escalation_close_with_incident", AuditEntry.incident_id == incident_id
            )
        )
        assert audits == 49
