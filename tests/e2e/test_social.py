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
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bot.servers import Servers, free_port
from bot.settings import load_settings
from tests.conftest import serve_in_thread
from tests.e2e.conftest import Assistant

pytestmark = pytest.mark.e2e

FB_SECRET = "fb-app-secret-" + "x" * 20
TG_TOKEN = "123456789:AAFakeTokenForTestsOnly_abcdefghijkl"
TG_SECRET = "tg-secret-" + "y" * 20
TW_SID, TW_TOKEN = "AC" + "1" * 32, "tw-auth-token-" + "z" * 18
ANSWER = "Prepaid top-up is down"


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


def test_telegram_registers_its_secret_and_answers_signed_updates(social: tuple[str, Provider]) -> None:
    base, provider = social
    assert any(k == "telegram-setWebhook" and d.get("secret_token") == TG_SECRET for k, d in provider.sent)
    chat = int(uuid.uuid4().int % 10**9)
    update = {
        "update_id": 1,
        "message": {
            "message_id": 1,
            "date": 1_764_000_000,
            "chat": {"id": chat, "type": "private"},
            "from": {"id": chat, "is_bot": False, "first_name": "Mere"},
            "text": "I can't top up my phone",
        },
    }
    url = f"{base}/webhooks/telegram/webhook"
    assert httpx.post(url, json=update, timeout=30).status_code == 403
    assert (
        httpx.post(url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "wrong"}, timeout=30).status_code
        == 403
    )
    ok = httpx.post(url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": TG_SECRET}, timeout=60)
    assert ok.status_code == 200
    wait_for_text(provider, "telegram", ANSWER)


def test_facebook_answers_signed_webhooks_and_refuses_others(social: tuple[str, Provider]) -> None:
    base, provider = social
    user = f"fb-{uuid.uuid4().hex[:8]}"
    event = {
        "object": "page",
        "entry": [
            {
                "id": "PAGE",
                "time": 1,
                "messaging": [
                    {
                        "sender": {"id": user},
                        "recipient": {"id": "PAGE"},
                        "timestamp": 1,
                        "message": {"mid": "m1", "text": "I can't top up my phone"},
                    }
                ],
            }
        ],
    }
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
