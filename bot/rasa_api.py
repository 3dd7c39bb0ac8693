"""How our processes talk to Rasa's HTTP API: one client factory, authenticated in a header.

Rasa accepts its token in the query string or a JWT in the Authorization header. A URL is
logged by httpx, proxies and access logs, so we only ever send the header: a short-lived
JWT (role admin) signed with the same secret, which `bot.rasa_runtime` gives Rasa as its
`--jwt-secret`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator

import httpx
import jwt

from bot.errors import ValidationError
from bot.text import conversation_id_problem

# Long enough for a slow request, short enough that a leaked header is soon useless.
TOKEN_LIFETIME = 300.0


class RasaAuth(httpx.Auth):
    """Signs each request with a fresh JWT; the secret itself never leaves this process."""

    def __init__(self, secret: str, clock: Callable[[], float] = time.time) -> None:
        self._secret, self._clock = secret, clock

    def bearer(self) -> str:
        now = self._clock()
        claims = {"user": {"username": "outage-assistant", "role": "admin"}, "iat": int(now)}
        claims["exp"] = int(now + TOKEN_LIFETIME)
        return jwt.encode(claims, self._secret, algorithm="HS256")

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self.bearer()}"
        yield request


def rasa_client(
    base_url: str, secret: str, timeout: float = 10.0, transport: httpx.AsyncBaseTransport | None = None
) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=base_url, timeout=httpx.Timeout(timeout), transport=transport, auth=RasaAuth(secret)
    )


def conversation_path(conversation_id: str, rest: str) -> str:
    """`/conversations/<id>/<rest>`; an id Rasa could not have made is refused, not sent."""
    problem = conversation_id_problem(conversation_id)
    if problem:
        raise ValidationError(f"not a conversation id: it {problem}")
    # Not percent-encoded: Rasa does not decode the id (see bot.text), and the rule admits
    # only characters that a path carries as they are.
    return f"/conversations/{conversation_id}/{rest}"
