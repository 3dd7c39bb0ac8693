"""Live incident state end to end: the admin API, the status-page sync, degraded mode and notify_me,
with the real Rasa server, action server, web app, notifier and a status page on loopback."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

import httpx
import pytest
from sqlalchemy import select

from bot.core.clock import utcnow
from bot.db.engine import make_engine, make_session_factory
from bot.db.migrate import upgrade
from bot.db.models import Incident, Notification, Subscription
from bot.incidents.statuspage.localpage import PageState
from bot.incidents.writes import post_update
from bot.people import operators
from tests.conftest import pg_schema, serve_in_thread
from tests.e2e.conftest import Assistant, load_now
from tests.support.faulty_page import faulty_page_app, set_fault

pytestmark = pytest.mark.e2e

STALE = "I can't reach our live status information"


def sender() -> str:
    return f"live-{uuid.uuid4().hex[:10]}"


def eventually(check: Callable[[], str | None], timeout: float = 20.0) -> str:
    """Retry `check` until it returns a reply (not None); the last reply is in the failure."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result is not None:
            return result
        time.sleep(0.5)
    raise AssertionError(f"condition not met within {timeout} s")


def reply_containing(assistant: Assistant, who: str, message: str, *fragments: str) -> Callable[[], str | None]:
    def check() -> str | None:
        reply = assistant.say(who, message)
        return reply if all(f in reply for f in fragments) else None

    return check


@contextmanager
def restarted_actions(assistant: Assistant, **env: str) -> Iterator[None]:
    """Run the action server with extra environment, then put the usual one back."""
    saved = dict(assistant.servers.env)
    assistant.servers.env.update(env)
    assistant.stop("actions")
    assistant.servers.start_actions()
    try:
        yield
    finally:
        assistant.servers.env.clear()
        assistant.servers.env.update(saved)
        assistant.stop("actions")
        assistant.servers.start_actions()


@contextmanager
def extra_process(assistant: Assistant, name: str, start: Callable[[], object]) -> Iterator[None]:
    try:
        start()
        yield
    finally:
        assistant.stop(name)


# --- the admin API ----------------------------------------------------------------------------


def test_admin_api_change_reaches_customers_within_the_ttl(demo_assistant: Assistant) -> None:
    """Token missing or wrong: 401. A valid update posted through the API is in the assistant's
    answer once the action server's cache (TTL 2 s) has expired, without a restart."""
    servers = demo_assistant.servers
    with make_session_factory(demo_assistant.engine).begin() as session:
        token = operators.create_token(session, f"ops-{uuid.uuid4().hex[:6]}", utcnow(), actor="test")
        incident = session.scalars(select(Incident)).one().id
    with (
        restarted_actions(demo_assistant, STATE_TTL_SECONDS="2"),
        extra_process(demo_assistant, "web", servers.start_web),
    ):
        url = f"{servers.web_url}/api/v1/incidents/{incident}/updates"
        body = {"message": "Top-ups are being switched back on region by region.", "services": ["top_up"]}
        assert httpx.post(url, json=body).status_code == 401
        assert httpx.post(url, json=body, headers={"Authorization": "Bearer nope"}).status_code == 401

        me = sender()
        assert "Prepaid top-up: not working" in demo_assistant.say(me, "I can't top up my phone")  # now cached
        posted = httpx.post(url, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert posted.status_code == 201, posted.text
        started = time.monotonic()
        reply = eventually(reply_containing(demo_assistant, me, "top up still failing?", "region by region"), 10)
        assert time.monotonic() - started < 5  # TTL 2 s plus a reply or two
        assert "Latest update" in reply


# --- the status-page sync ---------------------------------------------------------------------


def test_status_page_drives_answers_and_its_faults_give_last_known_state(
    assistant: Assistant, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """An incident appears on the page, gets an update, then resolves; the answers follow. While
    the page fails, answers keep the last state and say how old it is; recovery needs no restart."""
    assistant.reload_demo("all_clear")
    servers = assistant.servers
    folder = tmp_path_factory.mktemp("statuspage")
    page = PageState(folder, components={"Mobile network": "operational"})
    page.write()

    def web_syncing(url: str) -> None:
        servers.env.update(STATUSPAGE_URL=url, STATUSPAGE_POLL_SECONDS="1", STATUSPAGE_TIMEOUT_SECONDS="1")
        servers.start_web()

    try:
        with (
            serve_in_thread(faulty_page_app(folder)) as url,
            extra_process(assistant, "web", lambda: web_syncing(url)),
        ):
            me = sender()
            assert ": not affected" in assistant.say(me, "is roaming working?")

            incident = page.open_incident(
                "Roaming activation failing",
                "We are investigating roaming activations.",
                {"Roaming": "major_outage"},
                now=utcnow(),
            )
            page.write()
            reply = eventually(reply_containing(assistant, me, "is roaming working?", "Roaming: not working"))
            assert "investigating roaming activations" in reply, reply
            assert "no ETA" in reply  # the format has none, so none is invented
            assert '"Roaming activation failing"' in assistant.say(me, "what's down?")  # the page's title

            page.post_update(incident, "Cause identified; a fix is being deployed.", status="identified", now=utcnow())
            page.write()
            eventually(reply_containing(assistant, me, "roaming?", "a fix is being deployed"))

            for fault in ("500", "malformed", "huge", "timeout"):
                set_fault(folder, fault)
                # A new conversation per try: one that has seen the update is only pointed to it.
                reply = eventually(lambda: reply_containing(assistant, sender(), "is roaming working?", STALE)())
                assert "Roaming: not working" in reply and "a fix is being deployed" in reply, fault
                health = httpx.get(f"{servers.web_url}/health", timeout=10).json()
                assert health["status"] == "degraded" and health["sources"]["statuspage"]["ok"] is False
                assert health["sources"]["statuspage"]["age_seconds"] > 0
            set_fault(folder, None)

            page.resolve(incident, "Roaming activations work again.", now=utcnow())
            page.write()
            reply = eventually(reply_containing(assistant, me, "is roaming working?", "working normally again"))
            assert STALE not in reply and "Roaming activations work again." in reply
            assert httpx.get(f"{servers.web_url}/health", timeout=10).json()["status"] == "ok"
    finally:
        for key in ("STATUSPAGE_URL", "STATUSPAGE_POLL_SECONDS", "STATUSPAGE_TIMEOUT_SECONDS"):
            servers.env.pop(key, None)
        servers.env["STATUSPAGE_URL"] = ""


# --- the database going away ------------------------------------------------------------------


class Proxy:
    """A TCP proxy on loopback in front of PostgreSQL; `stop()` is the server going away."""

    def __init__(self, target: tuple[str, int], port: int = 0) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", port))
        self.port = self.listener.getsockname()[1]
        self.sockets: list[socket.socket] = []
        self.running = True
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while self.running:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def stop(self) -> None:
        self.running = False
        # close() alone leaves a listener blocked in accept() alive on Linux; shutdown() ends it.
        with suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        for s in self.sockets:
            with suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
                s.close()


def test_postgres_stopped_answers_last_known_state_then_recovers(assistant: Assistant) -> None:
    """The action server on PostgreSQL; the server goes away mid-conversation. Answers keep
    the last known state with its time and a warning; when it is back, fresh state returns."""
    with pg_schema("e2e") as schema:
        proxy = Proxy(("127.0.0.1", 5432))
        url = f"postgresql://127.0.0.1:{proxy.port}/test?options=-csearch_path%3D{schema}&connect_timeout=2"
        pg = make_engine(url)
        try:
            upgrade(pg)
            load_now(pg, assistant.servers.settings)
            pg.dispose()
            with restarted_actions(assistant, DATABASE_URL=url, STATE_TTL_SECONDS="1"):
                me = sender()
                fresh = assistant.say(me, "I can't top up my phone")
                assert "Prepaid top-up: not working" in fresh and STALE not in fresh
                proxy.stop()
                time.sleep(1.5)  # past the TTL
                reply = assistant.say(me, "top up still not working")
                assert "Prepaid top-up: not working" in reply and STALE in reply
                assert "what we knew" in reply and "today" in reply.split(STALE)[1]  # "what we knew 2:05 pm today"

                proxy = Proxy(("127.0.0.1", 5432), port=proxy.port)  # the server is back

                def fresh_again() -> str | None:
                    reply = assistant.say(me, "and now? top up?")
                    return reply if "Prepaid top-up: not working" in reply and STALE not in reply else None

                eventually(fresh_again, 15)
        finally:
            proxy.stop()
            pg.dispose()


# --- notify_me --------------------------------------------------------------------------------


def notices(assistant: Assistant, who: str) -> list[str]:
    events = assistant.tracker(who)["events"]
    return [e.get("text") or "" for e in events if e.get("event") == "bot" and "News on" in (e.get("text") or "")]


def test_notify_me_on_a_channel_that_cannot_push_shows_each_update_once_at_the_next_message(
    demo_assistant: Assistant,
) -> None:
    """REST cannot push: the notice comes with the next answer, once, also when the notifier
    restarts between the update and the delivery."""
    servers = demo_assistant.servers
    me = sender()
    assert "Prepaid top-up: not working" in demo_assistant.say(me, "my top up failed")
    assert "I'll message you here" in demo_assistant.say(me, "let me know when it's fixed")
    sessions = make_session_factory(demo_assistant.engine)
    with sessions.begin() as session:
        incident = session.scalars(select(Incident)).one().id
        post_update(
            session, incident, message="Top-up fix in testing.", now=utcnow(), service_keys=["top_up"], actor="test"
        )
    with extra_process(demo_assistant, "notifier", servers.start_notifier):
        eventually(lambda: _queued(sessions, me) or None, 15)
    with extra_process(demo_assistant, "notifier", servers.start_notifier):  # a restart before delivery
        time.sleep(1.5)
        assert _queued(sessions, me) == 1
        first = demo_assistant.say(me, "hi again")
        second = demo_assistant.say(me, "thanks, anything else on top ups?")
    assert first.count("Top-up fix in testing.") == 1 and "News on Prepaid top-up" in first
    assert "News on" not in second  # the notice is not repeated (the status answer may quote the update)


def _queued(sessions: object, conversation: str) -> int:
    """This conversation's queued notices (other tests share the assistant and subscribe too)."""
    with sessions() as session:  # type: ignore[operator]
        query = select(Notification).join(Notification.subscription).where(Subscription.conversation_id == conversation)
        return len(session.scalars(query).all())


def test_notify_me_pushed_through_rasa_arrives_exactly_once_even_if_the_bookkeeping_is_lost(
    demo_assistant: Assistant,
) -> None:
    """A push channel: the notifier triggers EXTERNAL_incident_update through Rasa's API. If the
    notifier dies after Rasa answered but before recording it, the retry shows nothing twice."""
    servers = demo_assistant.servers
    with restarted_actions(demo_assistant, NOTIFY_PUSH_CHANNELS="rest"):
        servers.env["NOTIFY_PUSH_CHANNELS"] = "rest"
        try:
            me = sender()
            assert "I'll message you here" in demo_assistant.say(me, "tell me when roaming is fixed")
            sessions = make_session_factory(demo_assistant.engine)
            with sessions.begin() as session:
                incident = session.scalars(select(Incident)).one().id
                post_update(session, incident, message="Roaming back for most.", now=utcnow(), actor="test")
            with extra_process(demo_assistant, "notifier", servers.start_notifier):
                eventually(lambda: "ok" if len(notices(demo_assistant, me)) == 1 else None, 20)
            with sessions.begin() as session:  # as if the notifier crashed before marking it delivered
                for row in session.scalars(select(Notification)):
                    row.delivered_at = None
            with extra_process(demo_assistant, "notifier", servers.start_notifier):
                eventually(lambda: "ok" if all(n.delivered_at for n in _rows(sessions)) else None, 20)
            assert len(notices(demo_assistant, me)) == 1
            assert "Roaming back for most." in notices(demo_assistant, me)[0]
        finally:
            servers.env.pop("NOTIFY_PUSH_CHANNELS", None)


def _rows(sessions: object) -> list[Notification]:
    with sessions() as session:  # type: ignore[operator]
        return list(session.scalars(select(Notification)))


def test_notify_me_when_nothing_is_broken(demo_assistant: Assistant) -> None:
    assert "nothing to wait for" in demo_assistant.say(sender(), "tell me when broadband is fixed")
