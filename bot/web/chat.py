"""The customers' web chat at `/`: a page, and a gateway in front of Rasa's REST channel.

The server, never the browser, chooses each conversation's id: it is issued in an HttpOnly
cookie signed with CHAT_SECRET, and the gateway forwards messages to Rasa (bound to
loopback) under that id. A client can neither pick another customer's id nor forge one.
Messages are size-limited, stripped of control characters and rate-limited per
conversation and per address.

History is read a page at a time from the tracker store's index, never through Rasa, and
an open page is sent what is new (staff replies, "it's fixed" notices, its other tabs'
messages) over server-sent events from the process's one `ChatFeed`. A browser without
them asks `/chat/history?after=N`, which is answered from the same index.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy import Engine

from bot.conversation.clients import METADATA_KEY, client_key
from bot.core.devsecrets import chat_secret
from bot.core.errors import ConversationStoreError, IncidentSourceError
from bot.core.limits import Limiter, chat_limiters
from bot.core.settings import Settings
from bot.core.timefmt import format_when
from bot.rasa_api import conversation_chat_events, newest_event_id, previous_bot_event
from bot.web.chatfeed import BANNER, BannerSource, ChatFeed, Message, reply, to_messages
from bot.web.deps import Context, WebContext
from common.text import MAX_CHAT_MESSAGE, conversation_id_problem, printable

logger = logging.getLogger(__name__)

COOKIE = "oa_chat"
CHANNEL = "webchat"
PAGE = 50  # messages per page of history
MAX_TABS_PER_CONVERSATION = 10  # open streams; more are refused, and the page polls instead
KEEPALIVE = 20.0  # seconds between comments on an idle stream, well inside proxies' idle timeouts
MAX_EVENT_ID = 2**63 - 1
EventId = Annotated[int | None, Query(ge=0, le=MAX_EVENT_ID)]


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
    feed: ChatFeed

    @classmethod
    def for_settings(cls, settings: Settings, tracker: Callable[[], Engine], banner: BannerSource) -> ChatGate:
        return cls(chat_secret(settings), *chat_limiters(settings.redis_url), ChatFeed(tracker, banner))


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


BANNER_REFRESH = 20  # seconds between a page's banner reads: a new update shows within that


async def banner(ctx: WebContext) -> dict[str, Any] | None:
    """The banner for a page being drawn: none when the incident state cannot be read."""
    try:
        return await current_banner(ctx)
    except IncidentSourceError:
        return None


async def current_banner(ctx: WebContext) -> dict[str, Any] | None:
    """The current outage as the banner shows it, or None: its title, what it affects, and the
    time of its latest official update (not of any other change). IncidentSourceError when the
    incident state cannot be read, so that pages already showing a banner keep it."""
    overview = await ctx.state.overview()
    if not overview.incidents:
        return None
    incident = overview.incidents[0]
    latest = incident.latest_update.posted_at if incident.latest_update else incident.started_at
    return {
        "title": incident.title,
        "affected": ", ".join(s.name for s in overview.affected),
        "updated": format_when(latest, ctx.clock(), ctx.settings.tz),
        "updated_at": latest.isoformat(),
    }


@router.get("/")
async def page(request: Request, ctx: Context, chat: Gate) -> Response:
    conversation_id = verify(request.cookies.get(COOKIE), chat.key) or f"web-{secrets.token_urlsafe(18)}"
    context = {"banner": await banner(ctx), "refresh": BANNER_REFRESH}
    response = templates.TemplateResponse(request, "chat.html", context)
    return _with_cookie(response, conversation_id, request, chat.key)


@router.get("/chat/banner")
async def banner_state(ctx: Context) -> JSONResponse:
    """The banner, for the page a status page embeds, which keeps it current (the chat's own
    page has it on its stream); 503 when the state cannot be read, so the page keeps its banner."""
    try:
        found = await current_banner(ctx)
    except IncidentSourceError:
        return JSONResponse({"detail": "the incident state cannot be read"}, 503, headers={"cache-control": "no-store"})
    return JSONResponse({"banner": found}, headers={"cache-control": "no-store"})


@router.get("/banner")
async def embeddable_banner(request: Request, ctx: Context) -> Response:
    """The outage banner on its own, for the status page to embed (an iframe), with a link that
    opens the chat; it keeps itself current."""
    context = {"banner": await banner(ctx), "refresh": BANNER_REFRESH, "chat_url": str(request.base_url)}
    return templates.TemplateResponse(request, "banner.html", context)


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
    if len(message) > MAX_CHAT_MESSAGE:
        return JSONResponse({"detail": f"Messages are limited to {MAX_CHAT_MESSAGE} characters."}, 413)
    try:
        client = {METADATA_KEY: client_key(address, chat.key)}
        replies = await ctx.rasa.send_message(conversation_id, printable(message), CHANNEL, client)
    except (httpx.HTTPError, ValueError):
        logger.warning("the assistant did not answer a web chat message")
        return JSONResponse({"detail": "The assistant is not answering right now. Please try again in a minute."}, 503)
    # The turn's newest event: the page skips what the stream sends of this turn, which it shows already.
    try:
        last: int | None = await asyncio.to_thread(newest_event_id, ctx.tracker_store, conversation_id)
    except ConversationStoreError:
        last = None
    return JSONResponse({"replies": [reply(r) for r in replies if isinstance(r, dict)], "last": last})


def _page(ctx: WebContext, conversation_id: str, after: int | None, before: int | None) -> dict[str, Any]:
    tracker = ctx.tracker_store
    rows = conversation_chat_events(tracker, conversation_id, after=after, before=before, limit=PAGE)

    def previous(sender: str, event_id: int) -> str | None:
        return previous_bot_event(tracker, sender, event_id)

    messages = to_messages(rows, previous)
    newest = max((int(row[0]) for row in rows), default=after or 0)
    # A page read backwards that came back full may have older messages before it.
    older = int(rows[0][0]) if rows and after is None and len(rows) == PAGE else None
    return {"messages": messages, "last": newest, "older": older}


@router.get("/chat/history")
async def history(
    request: Request, ctx: Context, chat: Gate, after: EventId = None, before: EventId = None
) -> Response:
    """The newest page of messages, or the page before event `before`, or what came after event `after`."""
    conversation_id = verify(request.cookies.get(COOKIE), chat.key)
    if conversation_id is None:
        return JSONResponse({"messages": [], "last": 0, "older": None})
    try:
        page = await asyncio.to_thread(_page, ctx, conversation_id, after, before)
    except ConversationStoreError:
        return JSONResponse({"detail": "history unavailable"}, 503)
    return JSONResponse(page)


def _event(message: Message) -> str:
    if BANNER in message:  # not a message of the conversation: a named event, with no id to resume from
        return f"event: {BANNER}\ndata: {json.dumps(message)}\n\n"
    return f"id: {message['id']}\ndata: {json.dumps(message)}\n\n"


@router.get("/chat/stream")
async def stream(request: Request, ctx: Context, chat: Gate, after: EventId = None) -> Response:
    """Server-sent events: each new message of this conversation after event `after` (or the
    browser's Last-Event-ID), as it is stored."""
    conversation_id = verify(request.cookies.get(COOKIE), chat.key)
    if conversation_id is None:
        return JSONResponse({"detail": "no conversation: reload the page"}, 403)
    resumed = request.headers.get("last-event-id", "")
    if resumed.isdigit() and len(resumed) < 19:
        after = max(after or 0, int(resumed))
    if chat.feed.tabs_on(conversation_id) >= MAX_TABS_PER_CONVERSATION:
        return JSONResponse({"detail": "too many open windows on this conversation"}, 429)
    queue = chat.feed.subscribe(conversation_id)

    async def events() -> AsyncIterator[str]:
        try:
            yield "retry: 3000\n\n"
            with contextlib.suppress(IncidentSourceError):  # the page keeps the banner it was drawn with
                yield _event({BANNER: await current_banner(ctx)})
            last = after
            if last is None:
                try:
                    last = await asyncio.to_thread(newest_event_id, ctx.tracker_store, conversation_id)
                except ConversationStoreError:
                    last = 0
            else:
                while True:  # a page at a time, until the tab has everything
                    try:
                        page = await asyncio.to_thread(_page, ctx, conversation_id, last, None)
                    except ConversationStoreError:
                        break  # the feed's messages still come; a reload fills any gap
                    for message in page["messages"]:
                        yield _event(message)
                    if page["last"] <= last:
                        break
                    last = page["last"]
            while True:
                try:
                    message = await asyncio.wait_for(queue.get(), KEEPALIVE)
                except asyncio.TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                if message is None:
                    return  # the feed dropped this tab; the browser reconnects and catches up
                if BANNER in message:
                    yield _event(message)
                elif int(message["id"]) > last:
                    yield _event(message)
                    last = int(message["id"])
        finally:
            chat.feed.unsubscribe(conversation_id, queue)

    return StreamingResponse(events(), media_type="text/event-stream", headers={"x-accel-buffering": "no"})
