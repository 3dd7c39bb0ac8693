"""The web chat's history and live feed: pages read from the tracker store's index, new
messages pushed to open tabs over server-sent events, and no call to Rasa for either."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine

from bot.core.errors import IncidentSourceError
from bot.core.settings import Settings
from bot.db.engine import make_session_factory
from bot.incidents.writes import post_update
from bot.rasa_api import RasaApi
from bot.web.app import create_app
from bot.web.chat import COOKIE, PAGE, verify
from bot.web.chatfeed import ChatFeed, to_messages
from tests.conftest import NOW, serve_in_thread
from tests.support.sse import StreamReader
from tests.web.conftest import FakeRasa
from tests.web.test_chat import visitor

KEY = "s" * 40


@pytest.fixture
def app(settings: Settings, engine: Engine, demo: int, rasa: FakeRasa) -> FastAPI:
    client = RasaApi("http://rasa.test", "rasa-test-token-" + "t" * 24, httpx.MockTransport(rasa))
    app = create_app(settings, engine, clock=lambda: NOW, run_sync=False, rasa=client)
    app.state.chat.feed.interval = 0.1
    return app


@pytest.fixture
def chat(app: FastAPI) -> Iterator[str]:
    with serve_in_thread(app) as url:
        yield url


def conversation(client: httpx.Client) -> str:
    conversation_id = verify(client.cookies[COOKIE], KEY)
    assert conversation_id
    return conversation_id


def bot(text: str, buttons: list[dict[str, str]] | None = None) -> dict[str, Any]:
    return {"event": "bot", "text": text, "data": {"buttons": buttons} if buttons else {}}


def user(text: str) -> dict[str, Any]:
    return {"event": "user", "text": text}


def read_events(
    client: httpx.Client, after: int, wanted: int, timeout: float = 10, kind: str = "message"
) -> list[dict[str, Any]]:
    """Open /chat/stream and collect `wanted` events of `kind` ("message", or a named event such
    as "banner"), or fail after `timeout`."""
    got: list[dict[str, Any]] = []
    with client.stream("GET", f"/chat/stream?after={after}", timeout=timeout) as response:
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
        reader = StreamReader()
        for line in response.iter_lines():
            event = reader.feed(line)
            if event is not None and event[0] == kind:
                got.append(json.loads(event[1]))
                if len(got) == wanted:
                    break
    return got


def test_history_is_paged_from_the_index_and_never_asks_rasa(chat: str, rasa: FakeRasa) -> None:
    customer = visitor(chat)
    me = conversation(customer)
    rasa.tracker.insert("someone-else", "user", user("not mine"))
    ids = [rasa.tracker.insert(me, "bot", bot(f"message {i}")) for i in range(120)]
    rasa.tracker.insert(me, "slot", {"event": "slot", "name": "x"})  # not a message

    newest = customer.get("/chat/history").json()
    assert [m["text"] for m in newest["messages"]] == [f"message {i}" for i in range(70, 120)]
    assert newest["last"] == ids[-1] and newest["older"] == ids[70]
    before = customer.get(f"/chat/history?before={newest['older']}").json()
    assert [m["text"] for m in before["messages"]] == [f"message {i}" for i in range(20, 70)]
    oldest = customer.get(f"/chat/history?before={before['older']}").json()
    assert len(oldest["messages"]) == 20 and oldest["older"] is None
    after = customer.get(f"/chat/history?after={ids[117]}").json()
    assert [m["text"] for m in after["messages"]] == ["message 118", "message 119"]
    assert rasa.api_calls == 0


@pytest.mark.parametrize("query", ["after=-1", "after=abc", "before=99999999999999999999", "after=1.5"])
def test_bad_history_cursors_get_a_clear_422(chat: str, query: str) -> None:
    response = visitor(chat).get(f"/chat/history?{query}")
    assert response.status_code == 422 and response.json()["detail"]


def test_quick_replies_show_their_titles_and_notices_hide_their_trigger(chat: str, rasa: FakeRasa) -> None:
    customer = visitor(chat)
    me = conversation(customer)
    rasa.tracker.insert(me, "bot", bot("Want a person?", [{"title": "No, thanks", "payload": "/deny"}]))
    for _ in range(PAGE):
        rasa.tracker.insert(me, "slot", {"event": "slot"})
    first_of_page = rasa.tracker.insert(me, "user", user("/deny"))
    rasa.tracker.insert(me, "user", user("EXTERNAL: EXTERNAL_incident_update"))
    rasa.tracker.insert(me, "bot", bot("Top-up is working again."))
    page = customer.get(f"/chat/history?after={first_of_page - 1}").json()["messages"]
    assert [(m["who"], m["text"]) for m in page] == [("you", "No, thanks"), ("assistant", "Top-up is working again.")]


def test_an_open_tab_is_sent_new_messages_without_asking_rasa(chat: str, rasa: FakeRasa) -> None:
    customer = visitor(chat)
    me = conversation(customer)
    start = rasa.tracker.insert(me, "bot", bot("earlier"))

    def staff_reply_later() -> None:
        time.sleep(0.5)
        rasa.tracker.insert("someone-else", "bot", bot("not for this tab"))
        rasa.tracker.insert(me, "bot", bot("Kia ora, Aroha from support here."))

    threading.Thread(target=staff_reply_later).start()
    (message,) = read_events(customer, start, 1)
    assert message["text"] == "Kia ora, Aroha from support here." and message["id"] > start
    assert rasa.api_calls == 0


def test_a_reconnecting_tab_catches_up_from_its_last_event(chat: str, rasa: FakeRasa) -> None:
    customer = visitor(chat)
    me = conversation(customer)
    seen = rasa.tracker.insert(me, "bot", bot("seen"))
    for i in range(PAGE + 5):  # more than one page arrived while the tab was away
        rasa.tracker.insert(me, "bot", bot(f"missed {i}"))
    got = read_events(customer, seen, PAGE + 5)
    assert [m["text"] for m in got] == [f"missed {i}" for i in range(PAGE + 5)]


def test_the_page_skips_what_it_already_showed_of_its_own_turn(chat: str, rasa: FakeRasa) -> None:
    customer = visitor(chat)
    me = conversation(customer)
    sent = customer.post("/chat/send", json={"message": "I can't top up"}).json()
    rasa.tracker.insert(me, "bot", bot("after the turn"))
    (message,) = read_events(customer, sent["last"], 1)
    assert message["text"] == "after the turn"


def test_one_read_per_tick_serves_every_open_tab(app: FastAPI, chat: str, rasa: FakeRasa) -> None:
    tabs = [visitor(chat) for _ in range(40)]
    streams = [tab.stream("GET", "/chat/stream?after=0", timeout=10) for tab in tabs]
    for s in streams:
        s.__enter__()
    try:
        feed = app.state.chat.feed
        deadline = time.monotonic() + 10
        while feed.open_tabs < 40 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert feed.open_tabs == 40
        reads = feed.reads
        time.sleep(1.0)  # about ten ticks of 0.1 s
        assert 3 <= feed.reads - reads <= 15  # per tick, not per tab (40 tabs would be 400)
        assert rasa.api_calls == 0
    finally:
        for s in streams:
            s.__exit__(None, None, None)
    deadline = time.monotonic() + 10
    while app.state.chat.feed.open_tabs and time.monotonic() < deadline:
        time.sleep(0.05)
    assert app.state.chat.feed.open_tabs == 0  # closed tabs are forgotten


def test_a_stream_without_a_conversation_is_refused(chat: str) -> None:
    assert httpx.get(chat + "/chat/stream").status_code == 403


def test_to_messages_skips_what_is_not_a_message() -> None:
    rows = [
        (1, "c", "{not json"),
        (2, "c", json.dumps([1, 2])),
        (3, "c", json.dumps({"event": "bot", "text": "", "data": {}})),
        (4, "c", json.dumps({"event": "user", "text": 5})),
        (5, "c", json.dumps({"event": "bot", "text": "hello", "data": "garbage"})),
        (6, "c", json.dumps({"event": "user", "text": "/affirm"})),
    ]
    assert to_messages(rows, lambda sender, before: None) == [
        {"id": 5, "who": "assistant", "text": "hello", "buttons": []},
        {"id": 6, "who": "you", "text": "/affirm"},
    ]


def test_a_persons_reply_is_marked_as_staff_not_the_assistant() -> None:
    staff = {
        "event": "bot",
        "text": "Tama (support): on it",
        "data": {},
        "metadata": {"utter_action": "utter_staff_reply"},
    }
    ours = {
        "event": "bot",
        "text": "Roaming: not working",
        "data": {},
        "metadata": {"utter_action": "utter_service_major_outage"},
    }
    rows = [(1, "c", json.dumps(staff)), (2, "c", json.dumps(ours))]
    assert [m["who"] for m in to_messages(rows, lambda sender, before: None)] == ["staff", "assistant"]


def test_the_feed_reads_nothing_while_no_tab_is_open(app: FastAPI, chat: str) -> None:
    visitor(chat)
    time.sleep(0.5)
    assert app.state.chat.feed.reads == 0


def test_a_stream_opens_with_the_banner_and_carries_its_changes(
    settings: Settings, engine: Engine, demo: int, rasa: FakeRasa
) -> None:
    """The chat page asks for no banner: it comes on the stream, first as it is, then each change."""
    began = time.monotonic()

    def clock() -> datetime:  # moves, so that the cached incident state expires
        return NOW + timedelta(seconds=time.monotonic() - began)

    client = RasaApi("http://rasa.test", "rasa-test-token-" + "t" * 24, httpx.MockTransport(rasa))
    app = create_app(settings, engine, clock=clock, run_sync=False, rasa=client)
    app.state.chat.feed.interval = app.state.chat.feed.banner_every = 0.1
    posted = NOW + timedelta(seconds=1)

    def update_later() -> None:
        time.sleep(1)
        with make_session_factory(engine).begin() as session:
            post_update(session, demo, message="Fix going in now.", now=posted, actor="test")

    banners: list[dict[str, Any]] = []
    with serve_in_thread(app) as url:
        customer = visitor(url)
        threading.Thread(target=update_later).start()
        with customer.stream("GET", "/chat/stream?after=0", timeout=15) as response:
            lines = response.iter_lines()
            for line in lines:
                if line == "event: banner":
                    banners.append(json.loads(next(lines)[6:])["banner"])
                    if banners[-1]["updated_at"] == posted.isoformat():
                        break
    # The first comes as the stream opens, then each change the feed reads (the age it states, too).
    assert banners[0]["title"] == "Back-end systems outage after failed maintenance"
    assert banners[0]["updated_at"] == (NOW - timedelta(minutes=40)).isoformat()
    assert banners[-1]["updated_at"] == posted.isoformat()


class Tabs:
    """Stand-ins for open tabs: what the feed hands each."""

    def __init__(self, feed: ChatFeed, n: int) -> None:
        self.queues = [feed.subscribe(f"tab-{i}") for i in range(n)]

    def taken(self) -> list[list[Any]]:
        out = []
        for queue in self.queues:
            got = []
            while not queue.empty():
                got.append(queue.get_nowait())
            out.append(got)
        return out


async def test_the_feed_reads_the_banner_once_for_all_tabs_and_hands_out_only_changes() -> None:
    shown: list[dict[str, Any] | None] = [{"title": "Outage", "updated_at": "1"}]
    reads = 0

    async def source() -> dict[str, Any] | None:
        nonlocal reads
        reads += 1
        if shown[0] == "fail":
            raise IncidentSourceError("database is locked")
        return shown[0]

    feed = ChatFeed(lambda: None, source)  # type: ignore[arg-type, return-value]
    tabs = Tabs(feed, 3)
    try:
        await feed.banner_tick()
        assert tabs.taken() == [[{"banner": {"title": "Outage", "updated_at": "1"}}]] * 3 and reads == 1
        await feed.banner_tick()
        assert tabs.taken() == [[]] * 3  # unchanged: nothing to hand out
        shown[0] = "fail"  # type: ignore[list-item]
        await feed.banner_tick()
        assert tabs.taken() == [[]] * 3  # unreadable: tabs keep what they show
        shown[0] = None
        await feed.banner_tick()
        assert tabs.taken() == [[{"banner": None}]] * 3  # resolved: the banner goes
    finally:
        await feed.stop()
