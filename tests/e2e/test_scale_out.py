"""Rasa's scale-out path on real servers: PostgreSQL tracker and incident store, Redis lock store,
two Rasa servers (each with its own action server) serving one conversation in turns."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from bot.core.clock import utcnow
from bot.core.settings import load_settings
from bot.db.engine import make_engine, make_session_factory
from bot.db.models import StaffRole
from bot.ops.scaled import ScaledAssistant, redis_problem
from bot.ops.servers import Servers, free_port
from bot.people.staff import create_user
from bot.rasa_api import RasaAuth
from tests.conftest import POSTGRES_URL
from tests.e2e.conftest import Assistant, start_assistant
from tests.support.scaled import drop_database, scale_out_problem, throwaway_scaled
from tests.support.servers import isolated_env

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]
REDIS_HOST = os.environ.get("TEST_REDIS_HOST", "127.0.0.1")


@pytest.fixture
def scale_out_db() -> Iterator[str]:
    """A fresh PostgreSQL database for this test, dropped afterwards."""
    from tests.conftest import _postgres_available

    reason = _postgres_available() or redis_problem(REDIS_HOST)
    if reason:
        pytest.skip(reason)
    name = f"outage_e2e_{uuid.uuid4().hex[:10]}"
    admin = make_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    base = POSTGRES_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_two_rasa_servers_share_one_conversation(scale_out_db: str, tmp_path: Path) -> None:
    shared = {
        "DATABASE_URL": scale_out_db,
        "TRACKER_STORE_URL": scale_out_db,
        "LOCK_STORE": "redis",
        "LOCK_STORE_HOST": REDIS_HOST,
        "RASA_AUTH_TOKEN": "scale-" + os.urandom(16).hex(),
    }
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = start_assistant(isolated_env(tmp_path / "a", **shared), tmp_path / "a")
    second: Assistant | None = None
    try:
        second = start_assistant(
            isolated_env(tmp_path / "b", **shared, RASA_PORT=str(free_port()), ACTION_PORT=str(free_port())),
            tmp_path / "b",
        )
        me = f"scale-{uuid.uuid4().hex[:8]}"
        assert "Prepaid top-up: not working" in first.say(me, "I can't top up my phone")
        # The other server reads the same tracker: the service in context carries over.
        assert "There's no ETA for Prepaid top-up yet" in second.say(me, "when will it be fixed?")
        first.stop("rasa")
        assert "Roaming: not working" in second.say(me, "and how do I turn on roaming")
        users = [e["text"] for e in second.tracker(me)["events"] if e.get("event") == "user"]
        assert users == ["I can't top up my phone", "when will it be fixed?", "and how do I turn on roaming"]
    finally:
        first.servers.stop_all()
        first.engine.dispose()
        if second is not None:
            second.servers.stop_all()
            second.engine.dispose()


@pytest.fixture(scope="module")
def scaled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScaledAssistant]:
    """Two replicas behind HAProxy on a fresh PostgreSQL database and the real Redis, shared by
    this module's tests (each uses conversations of its own; the one that stops a replica
    comes last)."""
    reason = scale_out_problem()
    if reason:
        pytest.skip(reason)
    assistant = throwaway_scaled(tmp_path_factory.mktemp("scaled"), replicas=2)
    try:
        assistant.start()
        yield assistant
    finally:
        assistant.stop()
        drop_database(assistant)


def _say(url: str, sender: str, message: str) -> str:
    response = httpx.post(f"{url}/webhooks/rest/webhook", json={"sender": sender, "message": message}, timeout=60)
    assert response.status_code == 200, response.text
    return "\n".join(r.get("text", "") for r in response.json())


def test_chat_limits_and_login_lockouts_hold_across_web_processes(scaled: ScaledAssistant) -> None:
    """Two web processes: the chat's 20 messages a minute are counted in Redis, and five failed
    logins on one lock the account on the other (counted in the shared database)."""
    engine = make_engine(scaled.env["DATABASE_URL"])
    with make_session_factory(engine).begin() as session:
        create_user(session, "aroha", "correct horse battery", StaffRole.AGENT, utcnow(), actor="test")
    engine.dispose()
    first = Servers(settings=load_settings(scaled.env), env=scaled.env, token=scaled.token, logs=scaled.var)
    env = {**scaled.env, "WEB_PORT": str(free_port())}
    (scaled.var / "web2").mkdir()
    second = Servers(settings=load_settings(env), env=env, token=scaled.token, logs=scaled.var / "web2")
    first.start_web()
    second.start_web()
    try:
        with httpx.Client(timeout=60) as browser:
            assert browser.get(f"{first.web_url}/").status_code == 200  # the conversation's cookie
            codes = [browser.post(f"{first.web_url}/chat/send", json={"message": "hi"}).status_code for _ in range(20)]
            assert codes == [200] * 20
            over = browser.post(f"{second.web_url}/chat/send", json={"message": "hi"})
            assert over.status_code == 429, over.text

            def log_in(url: str, password: str) -> httpx.Response:
                form = browser.get(f"{url}/console/login").text
                token = re.search(r'name="csrf" value="([^"]+)"', form)
                assert token is not None
                data = {"username": "aroha", "password": password, "csrf": token.group(1)}
                return browser.post(f"{url}/console/login", data=data)

            for _ in range(5):
                assert log_in(first.web_url, "wrong guess wrong").status_code != 303
            locked = log_in(second.web_url, "correct horse battery")
            assert locked.status_code == 429 and "too many failed logins" in locked.text
    finally:
        first.stop_all()
        second.stop_all()


def test_twenty_messages_in_flight_in_one_conversation_are_each_handled_whole_and_in_turn(
    scaled: ScaledAssistant,
) -> None:
    """A customer who taps send again and again, or writes from several tabs: 20 messages of
    one conversation at once, through HAProxy, across two Rasa processes. Every one is
    answered (no error, no 504), stored once, and no two turns interleave in the tracker."""
    me = f"burst-{uuid.uuid4().hex[:8]}"
    messages = [f"I can't top up my phone, try {i}" for i in range(20)]

    def send(message: str) -> httpx.Response:
        return httpx.post(f"{scaled.url}/webhooks/rest/webhook", json={"sender": me, "message": message}, timeout=130)

    with ThreadPoolExecutor(len(messages)) as pool:
        responses = list(pool.map(send, messages))
    assert [r.status_code for r in responses] == [200] * 20
    replies = ["\n".join(m.get("text", "") for m in r.json()) for r in responses]
    assert all("Prepaid top-up" in reply for reply in replies), replies
    served = {
        line.split(" rasa/")[1].split()[0]
        for line in (scaled.var / "haproxy.log").read_text().splitlines()
        if "POST /webhooks/rest/webhook" in line
    }
    assert served == {"rasa1", "rasa2"}, served
    tracker = httpx.get(f"{scaled.url}/conversations/{me}/tracker", auth=RasaAuth(scaled.token), timeout=30).json()
    events = tracker["events"]
    users = [e["text"] for e in events if e.get("event") == "user"]
    assert sorted(users) == sorted(messages)  # each message stored exactly once
    # In turn: after each message come its replies and then the assistant listens, before the next.
    starts = [i for i, e in enumerate(events) if e.get("event") == "user"]
    for start, end in zip(starts, [*starts[1:], len(events)], strict=True):
        turn = events[start + 1 : end]
        assert any(e.get("event") == "bot" for e in turn), events[start]["text"]
        actions = [e.get("name") for e in turn if e.get("event") == "action"]
        assert actions and actions[-1] == "action_listen", (events[start]["text"], actions)


def test_a_conversation_moves_between_replicas_behind_the_load_balancer(scaled: ScaledAssistant) -> None:
    me = f"lb-{uuid.uuid4().hex[:8]}"
    assert "Prepaid top-up: not working" in _say(scaled.url, me, "I can't top up my phone")
    for _ in range(3):
        assert "There's no ETA for Prepaid top-up yet" in _say(scaled.url, me, "when will it be fixed?")
    served = {
        line.split(" rasa/")[1].split()[0]
        for line in (scaled.var / "haproxy.log").read_text().splitlines()
        if "POST /webhooks/rest/webhook" in line
    }
    assert served == {"rasa1", "rasa2"}, served  # both replicas took turns in the one conversation
    scaled.members[0].stop("rasa")  # a replica is lost: the other carries the conversation on
    assert "Roaming: not working" in _say(scaled.url, me, "and how do I turn on roaming")
    tracker = httpx.get(f"{scaled.url}/conversations/{me}/tracker", auth=RasaAuth(scaled.token), timeout=30).json()
    users = [e["text"] for e in tracker["events"] if e.get("event") == "user"]
    assert users == ["I can't top up my phone", *["when will it be fixed?"] * 3, "and how do I turn on roaming"]
