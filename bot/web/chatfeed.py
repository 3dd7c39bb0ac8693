"""The web chat's messages: read from an index, and pushed to every open tab by one feed per process.

An open tab used to poll its whole history every 4 s, and each poll made Rasa read and send
the whole tracker: about 65 open tabs filled a web process (issue 20). Now:

- a page load reads one page of the conversation's messages by event id, and a reconnecting
  tab only what is newer than the last message it has (`bot.rasa_api.conversation_chat_events`);
- `ChatFeed` is one task per web process that reads every conversation's new user and bot
  events once a tick (by primary key) and hands each to the tabs open on its conversation. An
  idle tab costs a parked coroutine and a socket: no call to Rasa, no read of its own.

Every web process tails the same tracker store, so a staff reply sent from any process, an
"it's fixed" notice from the notifier, or a message from the customer's other tab reaches
every tab without a broker.

The same feed carries the outage banner: every `banner_every` seconds it reads the banner once
for the process (from the cached incident state) and hands it to every open tab when its words
or the age it states change. A tab in view used to ask for it every 20 s: 2,000 such tabs, a
hundred requests a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from bot.core.errors import ConversationStoreError, IncidentSourceError
from bot.rasa_api import chat_events_after, newest_event_id, previous_bot_event

logger = logging.getLogger(__name__)

# Rasa records an external intent (an "it's fixed" notice) as a user message with this prefix;
# the customer never typed it.
EXTERNAL_PREFIX = "EXTERNAL: "
Message = dict[str, Any]
PreviousBot = Callable[[str, int], str | None]
# The outage banner as the page shows it, or None for no outage; IncidentSourceError when it
# cannot be read.
BannerSource = Callable[[], Awaitable[dict[str, Any] | None]]
# What the feed hands a tab besides messages: {"banner": ...}, sent as a named event.
BANNER = "banner"


# The response a person's reply goes out as (bot.rasa_api.RasaApi.reply); the page shows it
# apart from the assistant's.
STAFF_RESPONSE = "utter_staff_reply"


def reply(raw: dict[str, Any], who: str = "assistant") -> Message:
    """One of the assistant's (or staff's) messages as the page shows it: text and at most a few
    quick replies."""
    buttons = [
        {"title": str(b.get("title", ""))[:100], "payload": str(b.get("payload", ""))[:200]}
        for b in raw.get("buttons") or []
        if isinstance(b, dict)
    ]
    return {"who": who, "text": str(raw.get("text") or ""), "buttons": buttons}


def _titles(bot_event: dict[str, Any]) -> dict[str, str]:
    data = bot_event.get("data") or {}
    buttons = data.get("buttons") if isinstance(data, dict) else None
    return {str(b.get("payload")): str(b.get("title")) for b in buttons or [] if isinstance(b, dict)}


def _loads(raw: str | None) -> dict[str, Any]:
    try:
        event = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return event if isinstance(event, dict) else {}


def to_messages(rows: Iterable[Sequence[Any]], previous_bot: PreviousBot) -> list[Message]:
    """The page's messages from (event id, conversation id, event JSON) rows, oldest first.

    A quick reply is stored as its payload ("/deny"); the customer clicked its title ("No,
    thanks"), which the bot message before it holds. That message is usually among the rows;
    when it is not (the first row of a page), `previous_bot` reads it.
    """
    messages: list[Message] = []
    titles: dict[str, dict[str, str]] = {}  # per conversation: payload -> title
    for event_id, sender, raw in rows:
        event = _loads(raw)
        text = event.get("text")
        if event.get("event") == "user" and isinstance(text, str) and text:
            if text.startswith(EXTERNAL_PREFIX):
                continue
            if text.startswith("/") and sender not in titles:
                titles[sender] = _titles(_loads(previous_bot(sender, event_id)))
            messages.append({"id": event_id, "who": "you", "text": titles.get(sender, {}).get(text, text)})
        elif event.get("event") == "bot":
            data = event.get("data") or {}
            buttons = data.get("buttons") if isinstance(data, dict) else None
            if not text and not buttons:
                continue
            titles[sender] = _titles(event) or titles.get(sender, {})
            metadata = event.get("metadata")
            staff = isinstance(metadata, dict) and metadata.get("utter_action") == STAFF_RESPONSE
            messages.append(
                {"id": event_id, **reply({"text": text, "buttons": buttons}, "staff" if staff else "assistant")}
            )
    return messages


@dataclass
class ChatFeed:
    """New chat messages, read once a tick for the whole process and handed to each open tab.

    In PostgreSQL two conversations' events can commit out of id order, so each read starts
    from where the read `lag` ticks ago started, and ids already handed out are skipped.
    """

    tracker: Callable[[], Engine]
    banner: BannerSource | None = None
    interval: float = 0.5  # seconds between reads: the most a new message waits to reach a tab
    banner_every: float = 2.0  # seconds between banner reads: the most a new update waits
    batch: int = 2000
    lag: int = 3
    queue_size: int = 100
    _shown_banner: Message | None = None  # the last banner handed out, as sent
    _banner_read: float = 0.0  # time.monotonic() of the last banner read
    _tabs: dict[str, set[asyncio.Queue[Message | None]]] = field(default_factory=dict)
    _starts: deque[int] = field(default_factory=deque)
    _seen: set[int] = field(default_factory=set)
    _task: asyncio.Task[None] | None = None
    reads: int = 0  # for tests and the benchmark: how many times the feed read the store

    def subscribe(self, conversation_id: str) -> asyncio.Queue[Message | None]:
        """A queue of the conversation's new messages; None in it means "reconnect and catch up"."""
        queue: asyncio.Queue[Message | None] = asyncio.Queue(self.queue_size)
        self._tabs.setdefault(conversation_id, set()).add(queue)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())
        return queue

    def unsubscribe(self, conversation_id: str, queue: asyncio.Queue[Message | None]) -> None:
        tabs = self._tabs.get(conversation_id)
        if tabs is not None:
            tabs.discard(queue)
            if not tabs:
                del self._tabs[conversation_id]

    def tabs_on(self, conversation_id: str) -> int:
        return len(self._tabs.get(conversation_id, ()))

    @property
    def open_tabs(self) -> int:
        return sum(len(tabs) for tabs in self._tabs.values())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while self._tabs:
            try:
                await self.tick()
            except ConversationStoreError as exc:
                logger.warning("chat feed: %s; trying again", exc)
            if time.monotonic() - self._banner_read >= self.banner_every:
                await self.banner_tick()
            await asyncio.sleep(self.interval)
        self._starts.clear()  # with no tab open nothing is read; the next tab starts afresh
        self._seen.clear()
        self._shown_banner = None

    async def banner_tick(self) -> None:
        """Read the banner once for the process; hand it to every open tab if it changed. When it
        cannot be read, tabs keep what they show."""
        if self.banner is None:
            return
        self._banner_read = time.monotonic()
        try:
            current = {BANNER: await self.banner()}
        except IncidentSourceError as exc:
            logger.warning("chat feed: the banner cannot be read: %s", exc)
            return
        if current == self._shown_banner:
            return
        self._shown_banner = current
        for sender, tabs in list(self._tabs.items()):
            for queue in list(tabs):
                self._hand(sender, queue, current)

    async def tick(self) -> None:
        """Read what is new since the last tick and hand it to the open tabs."""
        engine = self.tracker()
        if not self._starts:
            newest = await asyncio.to_thread(newest_event_id, engine)
            self._starts.append(newest)
            self._seen.clear()
            self.reads += 1
            return
        start = newest = self._starts[0]
        while True:
            rows = await asyncio.to_thread(chat_events_after, engine, start, self.batch)
            self.reads += 1
            fresh = [row for row in rows if row[0] not in self._seen and row[1] in self._tabs]
            self._seen.update(row[0] for row in rows)
            if fresh:
                self._deliver(await asyncio.to_thread(self._messages, engine, fresh))
            if rows:
                newest = max(newest, rows[-1][0])
            if len(rows) < self.batch:
                break
            start = rows[-1][0]
        self._starts.append(newest)
        while len(self._starts) > self.lag:
            self._starts.popleft()
        floor = self._starts[0]
        self._seen = {i for i in self._seen if i > floor}

    @staticmethod
    def _messages(engine: Engine, rows: Sequence[Sequence[Any]]) -> list[tuple[str, Message]]:
        def previous(sender: str, before: int) -> str | None:
            return previous_bot_event(engine, sender, before)

        # to_messages keeps each conversation's quick-reply titles apart; rows are in id order.
        senders = {row[0]: row[1] for row in rows}
        return [(senders[m["id"]], m) for m in to_messages(rows, previous)]

    def _deliver(self, messages: list[tuple[str, Message]]) -> None:
        for sender, message in messages:
            for queue in list(self._tabs.get(sender, ())):
                self._hand(sender, queue, message)

    def _hand(self, sender: str, queue: asyncio.Queue[Message | None], message: Message) -> None:
        try:
            queue.put_nowait(message)
        except asyncio.QueueFull:
            # A tab that does not read: end its stream; the browser reconnects and catches up
            # from the last message it has.
            self.unsubscribe(sender, queue)
            with contextlib.suppress(asyncio.QueueFull):
                queue.get_nowait()
                queue.put_nowait(None)
