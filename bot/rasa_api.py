"""Everything our processes ask of Rasa: its HTTP API (one client) and its tracker store (one reader).

Rasa accepts its token in the query string or a JWT in the Authorization header. A URL is
logged by httpx, proxies and access logs, so we only ever send the header: a short-lived
JWT (role admin) signed with the same secret, which `rasa_plugins.runtime` gives Rasa as its
`--jwt-secret`.

The tracker store is read directly, read-only, for what the HTTP API cannot answer in one call
(every user message of a week): the console's overview and the review of uncertain messages.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Callable, Generator, Iterable, Sequence
from datetime import datetime, timezone
from typing import Any

import httpx
import jwt
from sqlalchemy import Engine, Row, bindparam, text
from sqlalchemy.exc import SQLAlchemyError

from bot.core.errors import ConversationStoreError, ValidationError
from common.text import conversation_id_problem

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


def conversation_path(conversation_id: str, rest: str) -> str:
    """`/conversations/<id>/<rest>`; an id Rasa could not have made is refused, not sent."""
    problem = conversation_id_problem(conversation_id)
    if problem:
        raise ValidationError(f"not a conversation id: it {problem}")
    # Not percent-encoded: Rasa does not decode the id (see common.text), and the rule admits
    # only characters that a path carries as they are.
    return f"/conversations/{conversation_id}/{rest}"


class RasaApi:
    """The parts of Rasa's HTTP API we use. `transport` lets tests inject one (httpx.MockTransport).

    One client, and so one connection pool, per event loop: a client per call opened a new
    connection for every poll of every open chat tab (issue 20), and a client cannot be
    shared across loops (the web app's and a test's), so each loop gets its own.
    """

    def __init__(
        self, base_url: str, token: str, transport: httpx.AsyncBaseTransport | None = None, timeout: float = 10.0
    ) -> None:
        self.base_url, self.token, self.transport, self.timeout = base_url, token, transport, timeout
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = (
            weakref.WeakKeyDictionary()
        )

    def client(self) -> httpx.AsyncClient:
        """This event loop's client, made on first use; requests pass their own timeouts."""
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None or client.is_closed:
            client = self._clients[loop] = httpx.AsyncClient(
                base_url=self.base_url,
                timeout=httpx.Timeout(self.timeout),
                transport=self.transport,
                auth=RasaAuth(self.token),
                limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
            )
        return client

    async def aclose(self) -> None:
        """Close this event loop's client (the app's lifespan does, at shutdown)."""
        client = self._clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.aclose()

    async def send_message(
        self, conversation_id: str, text: str, channel: str, metadata: dict[str, Any] | None = None
    ) -> list[Any]:
        """A customer's message through the REST channel; the assistant's replies.
        Raises httpx.HTTPError or ValueError (not JSON)."""
        body: dict[str, Any] = {"sender": conversation_id, "message": text, "input_channel": channel}
        if metadata:
            body["metadata"] = metadata
        response = await self.client().post("/webhooks/rest/webhook", json=body, timeout=30.0)
        response.raise_for_status()
        replies = response.json()
        if not isinstance(replies, list):
            raise ValueError("Rasa's REST channel answered something other than a list")
        return replies

    async def events(self, conversation_id: str) -> list[dict[str, Any]] | None:
        """The conversation's events, or None if Rasa cannot be reached."""
        try:
            response = await self.client().get(conversation_path(conversation_id, "tracker"), timeout=5.0)
            response.raise_for_status()
            events = response.json().get("events")
            return events if isinstance(events, list) else None
        except (httpx.HTTPError, ValueError, AttributeError, ValidationError):
            return None

    async def reply(self, conversation_id: str, text: str, staff_name: str) -> None:
        """Send staff text to the customer's channel, signed with `staff_name` (utter_staff_reply:
        "Sam (support): ..."), then pause the assistant. Raises httpx.HTTPError."""
        client = self.client()
        slots = [
            {"event": "slot", "name": "staff_reply", "value": text},
            {"event": "slot", "name": "staff_name", "value": staff_name},
        ]
        (
            await client.post(conversation_path(conversation_id, "tracker/events"), json=slots, timeout=5.0)
        ).raise_for_status()
        (
            await client.post(
                conversation_path(conversation_id, "execute"),
                params={"output_channel": "latest"},
                json={"name": "utter_staff_reply"},
                timeout=5.0,
            )
        ).raise_for_status()
        pause = {"event": "pause"}
        (
            await client.post(conversation_path(conversation_id, "tracker/events"), json=pause, timeout=5.0)
        ).raise_for_status()

    async def resume(self, conversation_id: str) -> None:
        """Hand the conversation back to the assistant. Raises httpx.HTTPError."""
        resume = {"event": "resume"}
        path = conversation_path(conversation_id, "tracker/events")
        (await self.client().post(path, json=resume, timeout=5.0)).raise_for_status()

    async def trigger_intent(self, conversation_id: str, name: str, entities: dict[str, str]) -> str | None:
        """Run an external intent in a conversation, its replies to the latest channel; why not, or None."""
        try:
            response = await self.client().post(
                conversation_path(conversation_id, "trigger_intent"),
                params={"output_channel": "latest"},
                json={"name": name, "entities": entities},
            )
        except httpx.HTTPError as exc:
            return f"Rasa unreachable: {exc.__class__.__name__}"
        except ValidationError as exc:
            return str(exc)
        if response.status_code != 200:
            return f"Rasa answered HTTP {response.status_code}"
        return None


# --- Rasa's SQL tracker store: one row per event, its JSON in `data` --------------------------

_USER_MESSAGES = "SELECT sender_id, intent_name, timestamp FROM events WHERE type_name = 'user' AND timestamp >= :t"
# User messages, and the form starts and ends that tell a request from an answer to a form.
_MESSAGES_AND_FORMS = (
    "SELECT id, sender_id, type_name, timestamp, data FROM events "
    "WHERE type_name IN ('user', 'active_loop') AND timestamp >= :since "
    "ORDER BY timestamp DESC, id DESC LIMIT :scan"
)
_ONE_USER_EVENT = "SELECT data FROM events WHERE id = :id AND type_name = 'user'"
_LAST_USER_MESSAGE = "SELECT max(timestamp) FROM events WHERE sender_id = :sender AND type_name = 'user'"


def _read(tracker: Engine, sql: str, params: dict[str, Any]) -> Sequence[Row[Any]]:
    try:
        with tracker.connect() as conn:
            return conn.execute(text(sql), params).all()
    except SQLAlchemyError as exc:
        raise ConversationStoreError("Rasa's tracker store cannot be read") from exc


def user_messages_since(tracker: Engine, since: datetime) -> Sequence[Row[Any]]:
    """(conversation id, intent, epoch seconds) of every user message since `since`."""
    return _read(tracker, _USER_MESSAGES, {"t": since.timestamp()})


def messages_and_forms_since(tracker: Engine, since: datetime, scan: int) -> Sequence[Row[Any]]:
    """Newest first, at most `scan`: (event id, conversation id, type, epoch seconds, JSON) of user
    messages and form starts and ends since `since`."""
    return _read(tracker, _MESSAGES_AND_FORMS, {"since": since.timestamp(), "scan": scan})


def user_event_data(tracker: Engine, event_id: int) -> str | None:
    """The JSON of user event `event_id`, or None if there is no such user event."""
    rows = _read(tracker, _ONE_USER_EVENT, {"id": event_id})
    return str(rows[0][0]) if rows and rows[0][0] is not None else None


# What the customer typed: not the external intents the notifier triggers ("EXTERNAL: ...").
_LAST_CUSTOMER_MESSAGES = (
    "SELECT sender_id, max(timestamp) FROM events WHERE sender_id IN :senders AND type_name = 'user' "
    "AND (intent_name IS NULL OR intent_name NOT LIKE 'EXTERNAL%') GROUP BY sender_id"
)


def last_customer_messages_at(tracker: Engine, senders: Iterable[str]) -> dict[str, datetime]:
    """When each of these conversations' customers last wrote, in one query (a queue page's
    worth); conversations with no message are left out."""
    wanted = sorted(set(senders))
    if not wanted:
        return {}
    query = text(_LAST_CUSTOMER_MESSAGES).bindparams(bindparam("senders", expanding=True))
    try:
        with tracker.connect() as conn:
            rows = conn.execute(query, {"senders": wanted}).all()
    except SQLAlchemyError as exc:
        raise ConversationStoreError("Rasa's tracker store cannot be read") from exc
    return {str(s): datetime.fromtimestamp(float(t), tz=timezone.utc) for s, t in rows if t is not None}


def last_user_message_at(tracker: Engine, sender: str) -> datetime | None:
    """When the customer last wrote in this conversation, or None if never (or compacted away)."""
    rows = _read(tracker, _LAST_USER_MESSAGE, {"sender": sender})
    stamp = rows[0][0] if rows else None
    return datetime.fromtimestamp(float(stamp), tz=timezone.utc) if stamp is not None else None


# --- The web chat's view of a conversation: its messages, by event id ------------------------
# Every query here is answered from an index (the primary key, or Rasa's index on sender_id,
# which in SQLite and PostgreSQL alike narrows to one conversation first), never by reading a
# tracker: an open chat tab costs one such query per page load, and the feed one per tick.

_CHAT_TYPES = "type_name IN ('user', 'bot')"
_CHAT_AFTER = f"SELECT id, sender_id, data FROM events WHERE id > :after AND {_CHAT_TYPES} ORDER BY id LIMIT :limit"
_CONVERSATION_AFTER = (
    f"SELECT id, sender_id, data FROM events WHERE sender_id = :sender AND id > :after AND {_CHAT_TYPES} "
    "ORDER BY id LIMIT :limit"
)
_CONVERSATION_BEFORE = (
    f"SELECT id, sender_id, data FROM events WHERE sender_id = :sender AND id < :before AND {_CHAT_TYPES} "
    "ORDER BY id DESC LIMIT :limit"
)
_PREVIOUS_BOT = (
    "SELECT data FROM events WHERE sender_id = :sender AND id < :before AND type_name = 'bot' ORDER BY id DESC LIMIT 1"
)
_NEWEST = "SELECT max(id) FROM events"
_NEWEST_IN_CONVERSATION = "SELECT max(id) FROM events WHERE sender_id = :sender"


def chat_events_after(tracker: Engine, after: int, limit: int) -> Sequence[Row[Any]]:
    """Oldest first, at most `limit`: (event id, conversation id, JSON) of every conversation's
    user and bot events with an id above `after`."""
    return _read(tracker, _CHAT_AFTER, {"after": after, "limit": limit})


def conversation_chat_events(
    tracker: Engine, sender: str, *, after: int | None = None, before: int | None = None, limit: int = 50
) -> Sequence[Row[Any]]:
    """Oldest first, at most `limit` of one conversation's user and bot events: those above
    `after` (the first `limit` of them), else the newest below `before` (or the newest of all)."""
    if after is not None:
        return _read(tracker, _CONVERSATION_AFTER, {"sender": sender, "after": after, "limit": limit})
    rows = _read(tracker, _CONVERSATION_BEFORE, {"sender": sender, "before": before or 2**63 - 1, "limit": limit})
    return list(reversed(rows))


def previous_bot_event(tracker: Engine, sender: str, before: int) -> str | None:
    """The JSON of the conversation's last bot event before event `before`, or None."""
    rows = _read(tracker, _PREVIOUS_BOT, {"sender": sender, "before": before})
    return str(rows[0][0]) if rows and rows[0][0] is not None else None


def newest_event_id(tracker: Engine, sender: str | None = None) -> int:
    """The id of the newest event, of one conversation or of all; 0 if there is none."""
    if sender is None:
        rows = _read(tracker, _NEWEST, {})
    else:
        rows = _read(tracker, _NEWEST_IN_CONVERSATION, {"sender": sender})
    return int(rows[0][0] or 0) if rows else 0
