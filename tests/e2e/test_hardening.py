"""No input kills Rasa, and no port takes an unauthenticated call (real Rasa and action server)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import jwt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.devsecrets import action_token
from bot.rasa_api import RasaAuth
from bot.web.chat import COOKIE
from tests.e2e.conftest import Assistant

pytestmark = pytest.mark.e2e

BAD_IDS = [
    "\ud800",  # the lone surrogate that used to end the Rasa process
    "a\udfffb",
    "nul\x00id",
    "bell\x07",
    "line\nbreak",
    "x" * 129,
    "a/b",
    "spaced id",
    "caf\u00e9",
    "zero\u200bwidth",
    "rtl\u202eoverride",
]


def post_json(url: str, body: object) -> httpx.Response:
    """JSON as a client in any language may send it: lone surrogates as \\ud800 escapes."""
    return httpx.post(url, content=json.dumps(body), headers={"Content-Type": "application/json"}, timeout=30)


def rasa_alive(assistant: Assistant) -> bool:
    response = httpx.get(f"{assistant.rasa_url}/status", auth=RasaAuth(assistant.token), timeout=10)
    return response.status_code == 200


@pytest.mark.parametrize("sender", BAD_IDS)
def test_bad_sender_gets_400_and_rasa_stays_up(assistant: Assistant, sender: str) -> None:
    response = post_json(f"{assistant.rasa_url}/webhooks/rest/webhook", {"sender": sender, "message": "hi"})
    assert response.status_code == 400, response.text
    assert "sender" in response.json()["message"]
    assert rasa_alive(assistant)


@pytest.mark.parametrize(
    ("extra", "status", "field"),
    [
        ({"input_channel": "\ud800"}, 400, "input_channel"),
        ({"input_channel": "X" * 300}, 400, "input_channel"),
        ({"input_channel": 7}, 400, "input_channel"),
        ({"metadata": "not an object"}, 400, "metadata"),
        ({"metadata": {"blob": "m" * 20_000}}, 413, "metadata"),
    ],
)
def test_bad_channel_or_metadata_gets_4xx(
    assistant: Assistant, extra: dict[str, object], status: int, field: str
) -> None:
    body = {"sender": "hardening-fields", "message": "hi", **extra}
    response = post_json(f"{assistant.rasa_url}/webhooks/rest/webhook", body)
    assert response.status_code == status, response.text
    assert field in response.json()["message"]
    assert rasa_alive(assistant)


def test_text_with_lone_surrogates_and_nul_is_answered(assistant: Assistant) -> None:
    body = {"sender": "hardening-text", "message": "my top up \ud800 failed\x00"}
    response = post_json(f"{assistant.rasa_url}/webhooks/rest/webhook", body)
    assert response.status_code == 200
    assert "top-up" in " ".join(r.get("text", "") for r in response.json()).lower()


@pytest.mark.parametrize("path_id", ["x" * 200, "a%00b", "caf%C3%A9"])
def test_http_api_refuses_ids_no_channel_can_make(assistant: Assistant, path_id: str) -> None:
    url = f"{assistant.rasa_url}/conversations/{path_id}/tracker/events"
    response = httpx.post(url, json={"event": "pause"}, auth=RasaAuth(assistant.token), timeout=30)
    assert response.status_code == 400, response.text
    assert rasa_alive(assistant)


def test_http_api_takes_a_signed_jwt_in_the_header(assistant: Assistant) -> None:
    url = f"{assistant.rasa_url}/conversations/hardening-jwt/tracker"
    assert httpx.get(url, auth=RasaAuth(assistant.token), timeout=30).status_code == 200
    forged = jwt.encode({"user": {"role": "admin"}}, "not-the-secret-" * 3, algorithm="HS256")
    assert httpx.get(url, headers={"Authorization": f"Bearer {forged}"}, timeout=30).status_code == 401
    expired = RasaAuth(assistant.token, clock=lambda: time.time() - 3600)
    assert httpx.get(url, auth=expired, timeout=30).status_code == 401
    assert httpx.get(url, timeout=30).status_code == 401


@pytest.mark.parametrize(("method", "path"), [("POST", "/webhook"), ("GET", "/actions")])
def test_action_server_refuses_calls_without_the_secret(assistant: Assistant, method: str, path: str) -> None:
    settings = assistant.servers.settings
    url = f"http://127.0.0.1:{settings.action_port}{path}"
    body = {"next_action": "action_submit_escalation", "sender_id": "attacker", "tracker": {}, "domain": {}}
    assert httpx.request(method, url, json=body, timeout=10).status_code == 401
    wrong = {"Authorization": "Bearer guess"}
    assert httpx.request(method, url, json=body, headers=wrong, timeout=10).status_code == 401
    if method == "GET":
        right = {"Authorization": f"Bearer {action_token(settings)}"}
        listed = httpx.get(url, headers=right, timeout=10)
        assert listed.status_code == 200 and {"name": "action_submit_escalation"} in listed.json()
    assert httpx.get(f"http://127.0.0.1:{settings.action_port}/health", timeout=10).status_code == 200


# --- bounded fuzz of the REST channel and the web chat gateway ----------------------------------

loose = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=60),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=15,
)
rest_bodies = st.one_of(
    st.binary(max_size=3000),
    loose.map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries(
        {
            "sender": st.one_of(st.from_regex(r"fuzz-[a-z0-9]{1,12}", fullmatch=True), st.text(max_size=200), loose),
            "message": st.one_of(st.text(max_size=300), loose),
        },
        optional={"metadata": loose, "input_channel": st.one_of(st.text(max_size=40), loose)},
    ).map(lambda v: json.dumps(v).encode()),
)
FUZZ = settings(max_examples=120, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))


def test_rest_fuzz_gets_no_server_error_and_rasa_stays_up(assistant: Assistant) -> None:
    statuses: list[int] = []

    @FUZZ
    @given(body=rest_bodies)
    def send(body: bytes) -> None:
        response = httpx.post(
            f"{assistant.rasa_url}/webhooks/rest/webhook",
            content=body,
            headers={"Content-Type": "application/json"},
            timeout=60,
        )
        statuses.append(response.status_code)
        assert response.status_code < 500, (body[:200], response.text[:200])

    send()
    assert len(statuses) >= 100 and 400 in statuses and 200 in statuses
    assert rasa_alive(assistant)


@pytest.fixture
def web(assistant: Assistant) -> Iterator[str]:
    assistant.servers.start_web()
    try:
        yield assistant.servers.web_url
    finally:
        assistant.servers.stop("web")


def test_web_chat_fuzz_gets_no_server_error(assistant: Assistant, web: str) -> None:
    page = httpx.get(f"{web}/", timeout=10)
    statuses: list[int] = []

    @FUZZ
    @given(body=rest_bodies, cookie=st.one_of(st.just(page.cookies.get(COOKIE) or ""), st.text(max_size=300)))
    def send(body: bytes, cookie: str) -> None:
        raw = cookie.encode("utf-8", "replace")
        if any(ch in raw for ch in b"\r\n\x00"):
            return  # not sendable as one HTTP header
        headers = [(b"content-type", b"application/json"), (b"cookie", COOKIE.encode() + b"=" + raw)]
        response = httpx.post(f"{web}/chat/send", content=body, headers=headers, timeout=60)
        statuses.append(response.status_code)
        assert response.status_code < 500 or response.status_code == 503, response.text[:200]

    send()
    assert len(statuses) >= 50
    assert assistant.servers.procs["web"].poll() is None and rasa_alive(assistant)
