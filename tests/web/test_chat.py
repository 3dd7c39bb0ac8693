"""The web chat gateway over real HTTP (Rasa replaced by an httpx.MockTransport; the browser
test uses the real one): server-chosen signed ids, limits, and clear errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from bot.core.settings import Settings, load_settings
from bot.rasa_api import RasaApi
from bot.web.app import create_app
from bot.web.chat import COOKIE, sign, verify
from tests.conftest import NOW, serve_in_thread
from tests.web.conftest import FakeRasa


@pytest.fixture
def chat(settings: Settings, engine: Engine, demo: int, rasa: FakeRasa) -> Iterator[str]:
    client = RasaApi("http://rasa.test", "rasa-test-token-" + "t" * 24, httpx.MockTransport(rasa))
    app = create_app(settings, engine, clock=lambda: NOW, run_sync=False, rasa=client)
    with serve_in_thread(app) as url:
        yield url


def visitor(url: str) -> httpx.Client:
    client = httpx.Client(base_url=url, timeout=10)
    assert client.get("/").status_code == 200
    return client


def test_signed_ids_verify_and_forgeries_do_not() -> None:
    cookie = sign("web-abc", "k" * 32)
    assert verify(cookie, "k" * 32) == "web-abc"
    assert verify(cookie, "other-key" * 4) is None
    assert verify("web-abc", "k" * 32) is None
    assert verify("web-abc." + "0" * 64, "k" * 32) is None
    assert verify(None, "k") is None and verify("x" * 500, "k") is None


def test_the_page_issues_a_signed_httponly_id_and_shows_the_incident(chat: str) -> None:
    response = httpx.get(chat + "/")
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=web-") and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert "Back-end systems outage after failed maintenance" in response.text and 'role="status"' in response.text
    assert response.headers["content-security-policy"].startswith("default-src 'self'")


def test_the_banner_gives_the_latest_updates_time_and_can_be_embedded_with_a_link(chat: str, engine: Engine) -> None:
    from bot.db.engine import make_session_factory
    from bot.incidents.reads import read_overview

    with make_session_factory(engine)() as session:
        latest = read_overview(session, NOW).incidents[0].latest_update
    assert latest is not None
    state = httpx.get(chat + "/chat/banner").json()["banner"]
    assert state["updated_at"] == latest.posted_at.isoformat()  # the update's time, not the last edit's
    assert "Back-end systems outage" in state["title"] and "Prepaid top-up" in state["affected"]
    embed = httpx.get(chat + "/banner")
    assert embed.status_code == 200 and "x-frame-options" not in embed.headers
    assert "frame-ancestors *" in embed.headers["content-security-policy"]
    assert f'href="{chat}/"' in embed.text and 'target="_top"' in embed.text  # opens the chat
    assert httpx.get(chat + "/").headers["x-frame-options"] == "DENY"  # the chat itself is never framed


def test_messages_go_to_rasa_under_the_server_chosen_id_only(chat: str, rasa: FakeRasa) -> None:
    alice = visitor(chat)
    reply = alice.post("/chat/send", json={"message": "I can't top up", "sender": "someone-else"})
    assert reply.status_code == 200
    assert reply.json()["replies"] == [
        {"who": "assistant", "text": "echo: I can't top up", "buttons": [{"title": "Top-up", "payload": "/top_up"}]}
    ]
    assert reply.json()["last"] == 2  # the turn's newest event: the page skips the stream's copy
    (sent,) = rasa.received
    alice_id = verify(alice.cookies[COOKIE], "s" * 40)
    assert sent["sender"] == alice_id and sent["input_channel"] == "webchat"

    mallory = httpx.Client(base_url=chat, timeout=10)
    mallory.cookies.set(COOKIE, alice_id or "")  # the raw id, unsigned
    assert mallory.post("/chat/send", json={"message": "hi"}).status_code == 403
    assert mallory.get("/chat/history").json()["messages"] == []
    page = mallory.get("/")  # a forged cookie is replaced by an id of the server's choosing
    issued = page.headers["set-cookie"].split(";")[0].split("=", 1)[1]
    assert verify(issued, "s" * 40) not in (None, alice_id)
    mallory.cookies.clear()
    mallory.cookies.set(COOKIE, issued)
    assert mallory.get("/chat/history").json()["messages"] == []


@pytest.mark.parametrize(
    ("content", "status"),
    [
        (b"{not json", 400),
        (json.dumps({"message": 5}).encode(), 400),
        (json.dumps([1]).encode(), 400),
        (json.dumps({"message": "x" * 2001}).encode(), 413),
    ],
)
def test_bad_messages_get_clear_errors(chat: str, content: bytes, status: int) -> None:
    response = visitor(chat).post("/chat/send", content=content, headers={"Content-Type": "application/json"})
    assert response.status_code == status and response.json()["detail"]


def test_control_characters_are_stripped(chat: str, rasa: FakeRasa) -> None:
    visitor(chat).post("/chat/send", json={"message": "top\x00 up\x07 please\r\n"})
    assert rasa.received[-1]["message"] == "top up please"


def test_a_burst_of_1000_is_limited_without_affecting_others(chat: str, rasa: FakeRasa) -> None:
    flooder, neighbour = visitor(chat), visitor(chat)
    codes = [flooder.post("/chat/send", json={"message": f"spam {i}"}).status_code for i in range(1000)]
    assert codes.count(200) == 20 and codes.count(429) == 980
    assert neighbour.post("/chat/send", json={"message": "I can't top up"}).status_code == 200
    assert len(rasa.received) == 21  # the limited messages never reached Rasa


def test_rasa_down_gets_a_clear_503(chat: str, rasa: FakeRasa) -> None:
    rasa.down = True
    response = visitor(chat).post("/chat/send", json={"message": "hello"})
    assert response.status_code == 503 and "not answering" in response.json()["detail"]


@pytest.mark.parametrize(
    "raw",
    [
        "web-abc.\u00e9\u00e9".encode("latin-1"),  # non-ASCII MAC: used to raise in compare_digest
        b"web-\xff\xfe.0000",
        b"\x7f." + b"0" * 64,
        b"a/b." + b"0" * 64,
    ],
)
def test_a_garbled_cookie_gets_a_fresh_conversation_not_a_500(chat: str, raw: bytes) -> None:
    for method, path in (("GET", "/"), ("POST", "/chat/send"), ("GET", "/chat/history")):
        headers = [(b"cookie", COOKIE.encode() + b"=" + raw), (b"content-type", b"application/json")]
        response = httpx.request(method, chat + path, headers=headers, content=b'{"message": "hi"}', timeout=10)
        assert response.status_code in (200, 400, 403), (path, response.text)  # 400: the HTTP parser


def first_visit_and_send(url: str, forwarded_for: str) -> int:
    """A new conversation's first message, claiming to come from `forwarded_for`."""
    client = visitor(url)
    headers = {"X-Forwarded-For": forwarded_for}
    return client.post("/chat/send", json={"message": "hi"}, headers=headers).status_code


def test_a_forged_forwarded_address_does_not_escape_the_address_limit(chat: str) -> None:
    """No trusted proxy (make run): X-Forwarded-For is ignored, so 130 new conversations from
    one address meet the 120-a-minute limit whatever address each claims."""
    codes = [first_visit_and_send(chat, f"10.0.{i // 250}.{i % 250}") for i in range(130)]
    assert codes.count(200) == 120 and codes.count(429) == 10


def test_behind_a_trusted_proxy_the_client_is_the_rightmost_untrusted_address(
    tmp_path: Path, engine: Engine, demo: int, rasa: FakeRasa
) -> None:
    settings = load_settings(
        {"VAR_DIR": str(tmp_path), "CHAT_SECRET": "s" * 40, "TRUSTED_PROXIES": "127.0.0.1,10.9.0.0/16"},
        dotenv_path=Path("/nonexistent"),
    )
    client = RasaApi("http://rasa.test", "rasa-test-token-" + "t" * 24, httpx.MockTransport(rasa))
    app = create_app(settings, engine, clock=lambda: NOW, run_sync=False, rasa=client)
    with serve_in_thread(app) as url:
        # The client forged the left part; the real client is 203.0.113.7 (an inner proxy, 10.9.0.1, is trusted).
        codes = [first_visit_and_send(url, f"198.51.100.{i % 200}, 203.0.113.7, 10.9.0.1") for i in range(121)]
        assert codes.count(200) == 120 and codes[-1] == 429
        assert first_visit_and_send(url, "203.0.113.8") == 200  # another customer is unaffected
