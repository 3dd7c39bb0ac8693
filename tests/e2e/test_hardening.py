"""No input kills Rasa, and no port takes an unauthenticated call (real Rasa and action server)."""

from __future__ import annotations

import json
import re
import subprocess
import time

import httpx
import jwt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.core.devsecrets import action_token
from bot.core.settings import PROJECT_ROOT
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


def test_http_api_answers_every_bad_token_with_401_and_no_traceback(assistant: Assistant) -> None:
    url = f"{assistant.rasa_url}/conversations/hardening-jwt/tracker"
    claims = {"user": {"username": "x", "role": "admin"}}
    fresh = {**claims, "exp": int(time.time()) + 300}
    bad = {
        "alg none": jwt.encode(fresh, None, algorithm="none"),
        "HS512 with the right secret": jwt.encode(fresh, assistant.token, algorithm="HS512"),
        "expired 60 s ago": RasaAuth(assistant.token, clock=lambda: time.time() - 360).bearer(),
        "no exp": jwt.encode(claims, assistant.token, algorithm="HS256"),
        "not a JWT": "abc.def.ghi",
        "garbage": "\u00e9\u00e9",
    }
    for what, token in bad.items():
        response = httpx.get(url, headers={"Authorization": f"Bearer {token}".encode()}, timeout=30)
        assert response.status_code == 401, (what, response.status_code, response.text[:200])
        assert "Traceback" not in response.text
    assert httpx.get(url, headers={"Authorization": "Basic eDp5"}, timeout=30).status_code == 401
    within_skew = RasaAuth(assistant.token, clock=lambda: time.time() - 310)  # expired 10 s ago
    assert httpx.get(url, auth=within_skew, timeout=30).status_code == 200


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


def test_web_chat_fuzz_gets_no_server_error(assistant: Assistant, web_app: str) -> None:
    web = web_app
    page = httpx.get(f"{web}/", timeout=10)
    statuses: list[int] = []

    @FUZZ
    @given(body=rest_bodies, cookie=st.one_of(st.just(page.cookies.get(COOKIE) or ""), st.text(max_size=300)))
    def send(body: bytes, cookie: str) -> None:
        raw = cookie.encode("utf-8", "replace").strip()
        if any(byte < 0x20 or byte == 0x7F for byte in raw):
            return  # HTTP clients refuse control characters in a header
        headers = [(b"content-type", b"application/json"), (b"cookie", COOKIE.encode() + b"=" + raw)]
        response = httpx.post(f"{web}/chat/send", content=body, headers=headers, timeout=60)
        statuses.append(response.status_code)
        assert response.status_code < 500 or response.status_code == 503, response.text[:200]

    send()
    assert len(statuses) >= 50
    assert assistant.servers.procs["web"].poll() is None and rasa_alive(assistant)


# --- Rasa's routes, called with no credential ---------------------------------------------------

ROUTES_SCRIPT = """
import json
from rasa.core.run import configure_app
from rasa_plugins.inputs import SafeRestInput
app = configure_app([SafeRestInput()], enable_api=True, auth_token="x", jwt_secret="y" * 32, jwt_method="HS256")
print(json.dumps(sorted({(m, "/" + r.path) for r in app.router.routes for m in r.methods})))
"""
# Open to anyone, on purpose. Rasa listens on loopback; the web chat gateway fronts the REST channel.
RASA_PUBLIC = {
    ("GET", "/"): 200,  # "Hello from Rasa"
    ("GET", "/version"): 200,
    ("GET", "/webhooks/rest"): 200,  # the channel's health
    ("POST", "/webhooks/rest/webhook"): 400,  # the customers' channel: this empty body has no sender
}


def rasa_routes(assistant: Assistant) -> list[tuple[str, str]]:
    """Every route the Rasa server has, as Rasa's own app factory builds it."""
    python = assistant.servers.rasa_bin.parent / "python"
    done = subprocess.run(
        [str(python), "-c", ROUTES_SCRIPT], capture_output=True, text=True, timeout=300, cwd=PROJECT_ROOT, check=True
    )
    return [tuple(pair) for pair in json.loads(done.stdout.strip().splitlines()[-1])]


def test_every_rasa_route_refuses_a_stranger(assistant: Assistant) -> None:
    found = rasa_routes(assistant)
    assert len(found) >= 25
    for method, path in found:
        if method == "OPTIONS":
            continue  # CORS preflight; no CORS origin is configured
        concrete = re.sub(r"<[^>]+>", "inventory-1", path)
        response = httpx.request(
            method,
            assistant.rasa_url + concrete,
            content=b"{}",
            headers={"Content-Type": "application/json"},
            timeout=60,
        )
        where = f"{method} {path}: {response.status_code}"
        if (method, path) in RASA_PUBLIC:
            assert response.status_code == RASA_PUBLIC[(method, path)], where
        else:
            assert response.status_code in (401, 403), where
