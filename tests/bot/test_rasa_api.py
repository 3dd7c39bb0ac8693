"""The client for Rasa's HTTP API: a signed, short-lived JWT in a header; ids sent as they are."""

from __future__ import annotations

import asyncio

import httpx
import jwt
import pytest

from bot.core.errors import ValidationError
from bot.rasa_api import TOKEN_LIFETIME, RasaApi, RasaAuth, conversation_path

SECRET = "s" * 40


def test_each_request_carries_a_fresh_admin_jwt_and_no_token_in_the_url() -> None:
    seen: list[httpx.Request] = []

    def rasa(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={})

    async def call() -> None:
        await RasaApi("http://rasa.test", SECRET, httpx.MockTransport(rasa)).events("whatsapp:+64211234567")

    asyncio.run(call())
    (request,) = seen
    assert request.url.raw_path == b"/conversations/whatsapp:+64211234567/tracker"
    assert SECRET not in str(request.url)
    scheme, _, token = request.headers["Authorization"].partition(" ")
    claims = jwt.decode(token, SECRET, algorithms=["HS256"])
    assert scheme == "Bearer" and claims["user"]["role"] == "admin"
    assert claims["exp"] - claims["iat"] == TOKEN_LIFETIME


def test_the_jwt_expires_and_needs_the_secret() -> None:
    token = RasaAuth(SECRET, clock=lambda: 1_000_000.0).bearer()
    with pytest.raises(jwt.ExpiredSignatureError):
        jwt.decode(token, SECRET, algorithms=["HS256"])
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(RasaAuth(SECRET).bearer(), "another-secret-" * 3, algorithms=["HS256"])


@pytest.mark.parametrize("bad", ["", "a/b", "caf\u00e9", "x" * 129, "sp ace", "\ud800", "100%"])
def test_an_id_no_channel_can_make_is_refused_before_it_is_sent(bad: str) -> None:
    with pytest.raises(ValidationError, match="not a conversation id"):
        conversation_path(bad, "tracker")


async def test_one_client_and_pool_per_event_loop() -> None:
    calls: list[str] = []

    def rasa(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        return httpx.Response(200, json={"events": []})

    api = RasaApi("http://rasa.test", SECRET, httpx.MockTransport(rasa))
    first = api.client()
    await api.events("c1")
    await api.events("c2")
    assert api.client() is first and len(calls) == 2  # reused, not one client per call
    await api.aclose()
    assert first.is_closed and api.client() is not first  # closed at shutdown; a new one on next use
    await api.aclose()
