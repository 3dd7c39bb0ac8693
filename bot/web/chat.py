"""The customers' web chat at `/`: a page, and a gateway in front of Rasa's REST channel.

The server, never the browser, chooses each conversation's id: it is issued in an HttpOnly
cookie signed with CHAT_SECRET, and the gateway forwards messages to Rasa (bound to
loopback) under that id. A client can neither pick another customer's id nor forge one.
Messages are size-limited, stripped of control characters and rate-limited per
conversation and per address. Staff replies and notices, recorded in the conversation by
Rasa's API, reach the page because it polls its own history.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Body, Depends, Request
from fastapi.responses import JSONResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.exc import SQLAlchemyError

from bot.core.devsecrets import chat_secret
from bot.core.settings import Settings
from bot.core.timefmt import format_when
from bot.incidents.reads import read_overview
from bot.web.deps import Context, WebContext
from bot.web.limits import Limiter, chat_limiters
from common.text import conversation_id_problem, printable

logger = logging.getLogger(__name__)

COOKIE = "oa_chat"
CHANNEL = "webchat"
MAX_MESSAGE = 2000  # characters
HISTORY = 200  # messages shown after a reload


def sign(conversation_id: str, key: str) -> str:
    mac = hmac.new(key.encode(), conversation_id.encode(), hashlib.sha256).hexdigest()
    return f"{conversation_id}.{mac}"


def verify(cookie: str | None, key: str) -> str | None:
    """The conversation id in a cookie we signed, or None."""
    if not cookie or len(cookie) > 200 or "." not in cookie:
        return None
    conversation_id, _, mac = cookie.rpartition(".")
    if conversation_id_problem(conversation_id) or not mac.isascii():
        return None  # compare_digest raises on non-ASCII text; a cookie can carry any byte
    expected = hmac.new(key.encode(), conversation_id.encode(), hashlib.sha256).hexdigest()
    return conversation_id if hmac.compare_digest(mac.encode(), expected.encode()) else None


@dataclass(frozen=True)
class ChatGate:
    """The chat's cookie key and its two rate limits; create_app keeps one in `app.state.chat`."""

    key: str
    per_conversation: Limiter
    per_address: Limiter

    @classmethod
    def for_settings(cls, settings: Settings) -> ChatGate:
        return cls(chat_secret(settings), *chat_limiters(settings.redis_url))


def gate(request: Request) -> ChatGate:
    chat: ChatGate = request.app.state.chat
    return chat


Gate = Annotated[ChatGate, Depends(gate)]
router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=str(Path(__file__).resolve().parent / "templates"))


def _with_cookie(response: Response, conversation_id: str, request: Request, key: str) -> Response:
    response.set_cookie(
        COOKIE,
        sign(conversation_id, key),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        max_age=7 * 24 * 3600,
    )
    return response


def _banner(ctx: WebContext) -> dict[str, Any] | None:
    try:
        with ctx.sessions() as session:
            overview = read_overview(session, ctx.clock())
    except SQLAlchemyError:
        return None
    if not overview.incidents:
        return None
    incident = overview.incidents[0]
    return {
        "title": incident.title,
        "affected": ", ".join(s.name for s in overview.affected),
        "updated": format_when(incident.updated_at, ctx.clock(), ctx.settings.tz),
    }


@router.get("/")
def page(request: Request, ctx: Context, chat: Gate) -> Response:
    conversation_id = verify(request.cookies.get(COOKIE), chat.key) or f"web-{secrets.token_urlsafe(18)}"
    response = templates.TemplateResponse(request, "chat.html", {"banner": _banner(ctx)})
    return _with_cookie(response, conversation_id, request, chat.key)


@router.post("/chat/send")
async def send(request: Request, ctx: Context, chat: Gate, payload: Annotated[Any, Body()] = None) -> Response:
    conversation_id = verify(request.cookies.get(COOKIE), chat.key)
    if conversation_id is None:
        return JSONResponse({"detail": "no conversation: reload the page"}, 403)
    address = request.client.host if request.client else "unknown"
    # The conversation first: one customer's burst must not use up an address that many
    # customers share (mobile carriers put thousands behind one). The address limit
    # catches a client that keeps minting new conversations.
    if not await chat.per_conversation.allow(conversation_id) or not await chat.per_address.allow(address):
        return JSONResponse({"detail": "Too many messages. Please wait a minute and try again."}, 429)
    message = payload.get("message") if isinstance(payload, dict) else None
    if not isinstance(message, str):
        return JSONResponse({"detail": 'send {"message": "..."}'}, 400)
    if len(message) > MAX_MESSAGE:
        return JSONResponse({"detail": f"Messages are limited to {MAX_MESSAGE} characters."}, 413)
    try:
        replies = await ctx.rasa.send_message(conversation_id, printable(message), CHANNEL)
    except (httpx.HTTPError, ValueError):
        logger.warning("the assistant did not answer a web chat message")
        return JSONResponse({"detail": "The assistant is not answering right now. Please try again in a minute."}, 503)
    return JSONResponse([_reply(r) for r in replies if isinstance(r, dict)])


@router.get("/chat/history")
async def history(request: Request, ctx: Context, chat: Gate) -> Response:
    conversation_id = verify(request.cookies.get(COOKIE), chat.key)
    if conversation_id is None:
        return JSONResponse([])
    events = await ctx.rasa.events(conversation_id)
    if events is None:
        return JSONResponse({"detail": "history unavailable"}, 503)
    messages: list[dict[str, Any]] = []
    titles: dict[str, str] = {}  # a quick reply's payload -> the title the customer clicked
    for event in events:
        if not isinstance(event, dict):
            continue
        if event.get("event") == "user" and event.get("text"):
            text = str(event["text"])
            messages.append({"who": "you", "text": titles.get(text, text)})
        elif event.get("event") == "bot" and (event.get("text") or (event.get("data") or {}).get("buttons")):
            data = event.get("data") or {}
            reply = _reply({"text": event.get("text") or "", "buttons": data.get("buttons")})
            titles = {b["payload"]: b["title"] for b in reply["buttons"]} or titles
            messages.append(reply)
    return JSONResponse(messages[-HISTORY:])


def _reply(raw: dict[str, Any]) -> dict[str, Any]:
    buttons = [
        {"title": str(b.get("title", ""))[:100], "payload": str(b.get("payload", ""))[:200]}
        for b in raw.get("buttons") or []
        if isinstance(b, dict)
    ]
    return {"who": "assistant", "text": str(raw.get("text") or ""), "buttons": buttons}
